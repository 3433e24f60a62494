<?php
namespace Bitrixinflow\Connector;

use Bitrix\Main\Localization\Loc;

Loc::loadMessages(__FILE__);

/**
 * The module's REST methods, in their own scope "bitrixinflow" (the webhook or app needs it).
 * Contract: bitrix-module/README.md.
 */
final class RestService
{
    public const SCOPE = 'bitrixinflow';

    public static function describe(): array
    {
        return [
            self::SCOPE => [
                'bitrixinflow.marking.set' => [Marking::class, 'set'],
                'bitrixinflow.marking.get' => [Marking::class, 'get'],
                'bitrixinflow.barcode.list' => [Barcodes::class, 'listOf'],
                'bitrixinflow.reservation.release' => [Reservation::class, 'release'],
            ],
        ];
    }
}
