<?php
namespace Bitrixinflow\Connector;

use Bitrix\Main\Loader;
use Bitrix\Sale\Internals\BasketTable;
use Bitrix\Sale\Order;

/** One basket line's reservation let go (the warehouse could not pick it): its units may be sold again. */
final class Reservation
{
    /** bitrixinflow.reservation.release {basketId}: the units released; 0 when the line held none. */
    public static function release(array $query, $nav, \CRestServer $server): array
    {
        Access::require('W');
        $basketId = Params::positiveInt($query, 'basketId');
        Loader::includeModule('sale');
        $row = BasketTable::getRow(['select' => ['ORDER_ID'], 'filter' => ['=ID' => $basketId]]);
        $order = $row ? Order::load((int)$row['ORDER_ID']) : null;
        if ($order === null) {
            throw Errors::refuse('BASKET_NOT_FOUND', 'basket item ' . $basketId . ' does not exist');
        }
        $released = 0.0;
        foreach ($order->getShipmentCollection() as $shipment) {
            if ($shipment->isSystem() || $shipment->isShipped()) {
                continue;
            }
            $item = $shipment->getShipmentItemCollection()->getItemByBasketId($basketId);
            if ($item === null || $item->getReservedQuantity() <= 0) {
                continue;
            }
            $released += $item->getReservedQuantity();
            // Through the shipment line, so its RESERVED_QUANTITY and the reserve rows stay in step.
            $result = $item->tryUnreserve();
            if (!$result->isSuccess()) {
                throw Errors::refuse('SAVE_FAILED', implode('; ', $result->getErrorMessages()));
            }
        }
        if ($released > 0) {
            $saved = $order->save();
            if (!$saved->isSuccess()) {
                throw Errors::refuse('SAVE_FAILED', implode('; ', $saved->getErrorMessages()));
            }
        }
        return ['basketId' => $basketId, 'released' => $released];
    }
}
