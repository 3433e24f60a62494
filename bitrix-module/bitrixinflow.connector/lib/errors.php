<?php
namespace Bitrixinflow\Connector;

use Bitrix\Rest\RestException;

/** The module's refusals: {"error": CODE, "error_description": TEXT} with HTTP 400 (403 for rights). */
final class Errors
{
    public static function refuse(string $code, string $text): RestException
    {
        return new RestException($text, 'BITRIXINFLOW_' . $code, \CRestServer::STATUS_WRONG_REQUEST);
    }

    public static function denied(string $text): RestException
    {
        return new RestException($text, 'ACCESS_DENIED', \CRestServer::STATUS_FORBIDDEN);
    }
}
