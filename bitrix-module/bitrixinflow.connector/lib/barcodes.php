<?php
namespace Bitrixinflow\Connector;

use Bitrix\Catalog\Product\SystemField;
use Bitrix\Catalog\ProductTable;
use Bitrix\Catalog\StoreBarcodeTable;
use Bitrix\Main\Loader;

/** A product's own barcodes (STORE_ID 0, no order: its EAN/GTIN) and its Honest Sign marking group. */
final class Barcodes
{
    /** bitrixinflow.barcode.list {productIds}: products the shop does not have are left out. */
    public static function listOf(array $query, $nav, \CRestServer $server): array
    {
        Access::require('R');
        $ids = Params::ids($query, 'productIds');
        Loader::includeModule('catalog');
        $products = [];
        $select = array_merge(['ID'], SystemField::getProviderSelectFields());
        foreach ($ids as $id) {
            $row = ProductTable::getRow(['select' => $select, 'filter' => ['=ID' => $id]]);
            if (!$row) {
                continue;
            }
            SystemField::prepareRow($row, SystemField::OPERATION_PROVIDER);
            $products[(string)$id] = [
                'barcodes' => [],
                'markingGroup' => (string)($row['MARKING_CODE_GROUP'] ?? ''),
            ];
        }
        if ($products !== []) {
            $found = StoreBarcodeTable::getList([
                'select' => ['PRODUCT_ID', 'BARCODE'],
                'filter' => ['=PRODUCT_ID' => array_map('intval', array_keys($products)), '=ORDER_ID' => null, '=STORE_ID' => 0],
            ]);
            while ($barcode = $found->fetch()) {
                $products[(string)$barcode['PRODUCT_ID']]['barcodes'][] = (string)$barcode['BARCODE'];
            }
        }
        return ['products' => $products];
    }
}
