<?php
namespace Bitrixinflow\Connector;

/** The calling user's right on the sale module (the webhook's or the app's user): R to read, W to write. */
final class Access
{
    public static function require(string $right): void
    {
        global $APPLICATION;
        $have = $APPLICATION->GetGroupRight('sale');
        if ($have < $right) {
            throw Errors::denied('the user needs the right ' . $right . ' on the sale module');
        }
    }
}
