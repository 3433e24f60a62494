<?php
namespace Bitrixinflow\Connector;

use Bitrix\Main\Loader;
use Bitrix\Sale\Internals\ShipmentTable;
use Bitrix\Sale\Order;

/**
 * Marking codes on shipment lines: the store rows (b_sale_store_barcode) whose MARKING_CODE the cashbox's receipt
 * reads, one row of quantity 1 per unit (Cashbox\Check makes a receipt line of each).
 */
final class Marking
{
    /** bitrixinflow.marking.set {shipmentId, basketId, storeId?, codes}: the line's rows become exactly these. */
    public static function set(array $query, $nav, \CRestServer $server): array
    {
        Access::require('W');
        $shipmentId = Params::positiveInt($query, 'shipmentId');
        $basketId = Params::positiveInt($query, 'basketId');
        $codes = Params::codes($query);
        $storeId = isset($query['storeId']) && $query['storeId'] !== '' && $query['storeId'] !== 0
            ? Params::positiveInt($query, 'storeId')
            : 0;
        Loader::includeModule('sale');
        [$order, $shipment] = self::shipment($shipmentId);
        $item = $shipment->getShipmentItemCollection()->getItemByBasketId($basketId);
        if ($item === null) {
            throw Errors::refuse(
                'BASKET_NOT_IN_SHIPMENT',
                'basket item ' . $basketId . ' is not in shipment ' . $shipmentId
            );
        }
        // The core lets store rows change on a shipped shipment; the receipt was printed then, so we do not.
        if ($shipment->isShipped()) {
            throw Errors::refuse(
                'SHIPMENT_DEDUCTED',
                'shipment ' . $shipmentId . ' is deducted: its marking codes can no longer change'
            );
        }
        $basketItem = $item->getBasketItem();
        $stores = $item->getShipmentItemStoreCollection();
        if ($codes !== [] && (!$basketItem->isSupportedMarkingCode() || $stores === null)) {
            throw Errors::refuse(
                'NOT_MARKED',
                'product ' . $basketItem->getProductId() . ' has no marking group'
            );
        }
        if (count($codes) > $item->getQuantity()) {
            throw Errors::refuse(
                'TOO_MANY_CODES',
                count($codes) . ' codes for ' . $item->getQuantity() . ' unit(s) of basket item ' . $basketId
            );
        }
        if (count(array_unique($codes)) !== count($codes)) {
            throw Errors::refuse('DUPLICATE_CODE', 'a code appears twice');
        }
        $rows = $stores === null ? [] : iterator_to_array($stores, false);
        $held = array_map(static fn($row) => $row->getMarkingCode(), $rows);
        if ($held === $codes) {
            // Asked again: nothing to change, and the order is not saved (no OnSaleOrderSaved).
            return ['shipmentItemId' => $item->getId(), 'codes' => $codes, 'changed' => false];
        }
        if ($storeId === 0) {
            $storeId = $rows !== [] ? $rows[0]->getStoreId() : \Bitrix\Sale\Configuration::getDefaultStoreId();
        }
        // Old rows go first: the rows' quantities may never exceed the line's.
        foreach ($rows as $row) {
            self::check($row->delete());
        }
        foreach ($codes as $code) {
            $row = $stores->createItem($basketItem);
            self::check($row->setFields([
                'QUANTITY' => 1,
                'STORE_ID' => $storeId,
                'BASKET_ID' => $basketId,
                'MARKING_CODE' => $code,
            ]));
        }
        self::check($order->save());
        return ['shipmentItemId' => $item->getId(), 'codes' => $codes, 'changed' => true];
    }

    /** bitrixinflow.marking.get {orderId}: every shipment line of the order, marked or not, with its codes. */
    public static function get(array $query, $nav, \CRestServer $server): array
    {
        Access::require('R');
        $orderId = Params::positiveInt($query, 'orderId');
        Loader::includeModule('sale');
        $order = Order::load($orderId);
        if ($order === null) {
            throw Errors::refuse('ORDER_NOT_FOUND', 'order ' . $orderId . ' does not exist');
        }
        $items = [];
        foreach ($order->getShipmentCollection() as $shipment) {
            if ($shipment->isSystem()) {
                continue;
            }
            foreach ($shipment->getShipmentItemCollection() as $item) {
                $basketItem = $item->getBasketItem();
                $stores = $item->getShipmentItemStoreCollection();
                $codes = [];
                foreach ($stores ?? [] as $row) {
                    if ($row->getMarkingCode() !== '') {
                        $codes[] = $row->getMarkingCode();
                    }
                }
                $items[] = [
                    'shipmentId' => $shipment->getId(),
                    'shipmentItemId' => $item->getId(),
                    'basketId' => $basketItem->getId(),
                    'productId' => $basketItem->getProductId(),
                    'quantity' => $item->getQuantity(),
                    'markingGroup' => $basketItem->getMarkingCodeGroup(),
                    'deducted' => $shipment->isShipped() ? 'Y' : 'N',
                    'codes' => $codes,
                ];
            }
        }
        return ['items' => $items];
    }

    /** @return array{0: Order, 1: \Bitrix\Sale\Shipment} */
    private static function shipment(int $shipmentId): array
    {
        $row = ShipmentTable::getRow(['select' => ['ORDER_ID'], 'filter' => ['=ID' => $shipmentId]]);
        $order = $row ? Order::load((int)$row['ORDER_ID']) : null;
        $shipment = $order ? $order->getShipmentCollection()->getItemById($shipmentId) : null;
        if ($shipment === null || $shipment->isSystem()) {
            throw Errors::refuse('SHIPMENT_NOT_FOUND', 'shipment ' . $shipmentId . ' does not exist');
        }
        return [$order, $shipment];
    }

    private static function check($result): void
    {
        if (!$result->isSuccess()) {
            throw Errors::refuse('SAVE_FAILED', implode('; ', $result->getErrorMessages()));
        }
    }
}
