<?php
// Plain PHP tests of the companion module against the stand-in of the Bitrix classes it calls.
// Run: php bitrix-module/tests/run.php (exits 1 on any failure). CI runs it (.ci/run, through make test).

declare(strict_types=1);

require __DIR__ . '/bitrix_stand_in.php';

// Bitrix's autoload of a module's lib/: Bitrixinflow\Connector\Marking → lib/marking.php.
spl_autoload_register(static function (string $class): void {
    $prefix = 'Bitrixinflow\\Connector\\';
    if (str_starts_with($class, $prefix)) {
        require __DIR__ . '/../bitrixinflow.connector/lib/' . strtolower(substr($class, strlen($prefix))) . '.php';
    }
});

use Bitrix\Catalog\StandInCatalog;
use Bitrix\Rest\RestException;
use Bitrix\Sale\BasketItem;
use Bitrix\Sale\Order;
use Bitrix\Sale\Shipment;
use Bitrix\Sale\ShipmentCollection;
use Bitrix\Sale\ShipmentItem;
use Bitrix\Sale\ShipmentItemCollection;
use Bitrix\Sale\StandInDb;
use Bitrixinflow\Connector\Barcodes;
use Bitrixinflow\Connector\Marking;
use Bitrixinflow\Connector\Reservation;
use Bitrixinflow\Connector\RestService;

const GS = "\x1d";

$failures = 0;
$ran = 0;

function check(bool $ok, string $what): void
{
    global $failures;
    if (!$ok) {
        $failures++;
        fwrite(STDERR, "FAIL: $what\n");
    }
}

function refused(callable $call, string $code): void
{
    try {
        $call();
        check(false, "expected the refusal $code");
    } catch (RestException $e) {
        check($e->getErrorCode() === $code, "expected $code, got " . $e->getErrorCode() . ': ' . $e->getMessage());
        check($e->getMessage() !== '', "$code says what is wrong");
    }
}

function code(string $serial): string
{
    return '0104620070000043' . '21' . $serial . GS . '91EE06' . GS . '92' . str_repeat('A', 44);
}

/** Order 7: shipment 70 (sneakers ×2, marked shoes; a cap ×1, not marked; reserved), system shipment 71. */
function seed(): void
{
    StandInDb::$orders = [];
    StandInDb::$saves = 0;
    $sneaker = new BasketItem(701, 41, '5408');
    $cap = new BasketItem(702, 42);
    $lines = new ShipmentItemCollection([new ShipmentItem(7001, $sneaker, 2, 2.0), new ShipmentItem(7002, $cap, 1, 1.0)]);
    $order = new Order(7, new ShipmentCollection([
        new Shipment(70, $lines),
        new Shipment(71, new ShipmentItemCollection([]), system: true),
    ]));
    StandInDb::put($order);
    StandInCatalog::$products = [
        41 => ['group' => '5408', 'barcodes' => [
            ['STORE_ID' => 0, 'ORDER_ID' => null, 'BARCODE' => '4620070000043'],
            ['STORE_ID' => 3, 'ORDER_ID' => null, 'BARCODE' => 'PER-STORE-1'],
            ['STORE_ID' => 0, 'ORDER_ID' => 9, 'BARCODE' => 'SOLD-UNIT-1'],
        ]],
        42 => ['group' => '', 'barcodes' => [['STORE_ID' => 0, 'ORDER_ID' => null, 'BARCODE' => '4620070000166']]],
    ];
    $GLOBALS['APPLICATION']->saleRight = 'W';
}

function rows(int $orderId = 7, int $shipmentId = 70, int $basketId = 701): array
{
    $order = Order::load($orderId);
    $item = $order->getShipmentCollection()->getItemById($shipmentId)->getShipmentItemCollection()->getItemByBasketId($basketId);
    return array_map(
        static fn($r) => [$r->getMarkingCode(), $r->getQuantity(), $r->getStoreId()],
        iterator_to_array($item->getShipmentItemStoreCollection(), false)
    );
}

$server = new CRestServer();
$tests = [];

$tests['the scope and its four methods are described for the rest module'] = static function () {
    $described = RestService::describe();
    check(array_keys($described) === ['bitrixinflow'], 'one scope, bitrixinflow');
    check(array_keys($described['bitrixinflow']) === [
        'bitrixinflow.marking.set', 'bitrixinflow.marking.get', 'bitrixinflow.barcode.list', 'bitrixinflow.reservation.release',
    ], 'the four methods');
    foreach ($described['bitrixinflow'] as $name => $callback) {
        check(is_callable($callback), "$name is callable");
    }
};

$tests['codes become one quantity-1 row per unit, and a repeat changes nothing'] = static function () use ($server) {
    seed();
    $codes = [code('5AAAAAAAAAAA1'), code('5AAAAAAAAAAA2')];
    $answer = Marking::set(['shipmentId' => 70, 'basketId' => '701', 'codes' => $codes], 0, $server);
    check($answer === ['shipmentItemId' => 7001, 'codes' => $codes, 'changed' => true], 'the answer names the line and its codes');
    check(rows() === [[$codes[0], 1.0, 1], [$codes[1], 1.0, 1]], 'two rows of one unit, default store');
    $saves = StandInDb::$saves;
    $again = Marking::set(['shipmentId' => 70, 'basketId' => 701, 'codes' => $codes], 0, $server);
    check(StandInDb::$saves === $saves && $again['changed'] === false, 'the same codes again: the order is not saved again');
    // Replaced whole: the rows are exactly the new codes (old rows go before new ones, or the line would overflow).
    $other = [code('5BBBBBBBBBBB1'), code('5BBBBBBBBBBB2')];
    Marking::set(['shipmentId' => 70, 'basketId' => 701, 'codes' => $other, 'storeId' => 5], 0, $server);
    check(rows() === [[$other[0], 1.0, 5], [$other[1], 1.0, 5]], 'replaced by the new codes at the given store');
    $got = Marking::get(['orderId' => 7], 0, $server)['items'];
    check(count($got) === 2, 'both lines of the non-system shipment');
    check($got[0]['codes'] === $other && $got[0]['markingGroup'] === '5408' && $got[0]['deducted'] === 'N', 'the marked line with its codes');
    check($got[1]['codes'] === [] && $got[1]['markingGroup'] === '' && $got[1]['productId'] === 42, 'the plain line');
};

$tests['refusals name the problem and change nothing'] = static function () use ($server) {
    seed();
    $one = [code('5CCCCCCCCCCC1')];
    $cases = [
        [['shipmentId' => 70, 'basketId' => 701, 'codes' => [code('5C1'), code('5C2'), code('5C3')]], 'BITRIXINFLOW_TOO_MANY_CODES'],
        [['shipmentId' => 70, 'basketId' => 702, 'codes' => $one], 'BITRIXINFLOW_NOT_MARKED'],
        [['shipmentId' => 999, 'basketId' => 701, 'codes' => $one], 'BITRIXINFLOW_SHIPMENT_NOT_FOUND'],
        [['shipmentId' => 71, 'basketId' => 701, 'codes' => $one], 'BITRIXINFLOW_SHIPMENT_NOT_FOUND'],
        [['shipmentId' => 70, 'basketId' => 999, 'codes' => $one], 'BITRIXINFLOW_BASKET_NOT_IN_SHIPMENT'],
        [['shipmentId' => 70, 'basketId' => 701, 'codes' => [$one[0], $one[0]]], 'BITRIXINFLOW_DUPLICATE_CODE'],
        [['shipmentId' => 70, 'basketId' => 701, 'codes' => 'not a list'], 'BITRIXINFLOW_WRONG_PARAMETER'],
        [['shipmentId' => 70, 'basketId' => 701, 'codes' => [str_repeat('x', 201)]], 'BITRIXINFLOW_WRONG_PARAMETER'],
        [['shipmentId' => '-3', 'basketId' => 701, 'codes' => $one], 'BITRIXINFLOW_WRONG_PARAMETER'],
        [['basketId' => 701, 'codes' => $one], 'BITRIXINFLOW_WRONG_PARAMETER'],
    ];
    foreach ($cases as [$params, $code]) {
        refused(static fn() => Marking::set($params, 0, $server), $code);
    }
    check(rows() === [] && StandInDb::$saves === 0, 'nothing written');
    $GLOBALS['APPLICATION']->saleRight = 'R';
    refused(static fn() => Marking::set(['shipmentId' => 70, 'basketId' => 701, 'codes' => $one], 0, $server), 'ACCESS_DENIED');
    $GLOBALS['APPLICATION']->saleRight = 'D';
    refused(static fn() => Marking::get(['orderId' => 7], 0, $server), 'ACCESS_DENIED');
};

$tests['a deducted shipment keeps the codes it was printed with'] = static function () use ($server) {
    seed();
    StandInDb::$orders[7]->getShipmentCollection()->getItemById(70)->shipped = true;
    refused(
        static fn() => Marking::set(['shipmentId' => 70, 'basketId' => 701, 'codes' => [code('5DDDDDDDDDDD1')]], 0, $server),
        'BITRIXINFLOW_SHIPMENT_DEDUCTED'
    );
    check(rows() === [], 'nothing written');
};

$tests['a products barcodes are its own (no store, no order) with its marking group'] = static function () use ($server) {
    seed();
    $got = Barcodes::listOf(['productIds' => [41, '42', 999]], 0, $server);
    check($got === ['products' => [
        '41' => ['barcodes' => ['4620070000043'], 'markingGroup' => '5408'],
        '42' => ['barcodes' => ['4620070000166'], 'markingGroup' => ''],
    ]], 'per-store and sold units are not the product\'s barcode; an unknown product is left out: ' . json_encode($got));
    refused(static fn() => Barcodes::listOf(['productIds' => []], 0, $server), 'BITRIXINFLOW_WRONG_PARAMETER');
};

$tests['releasing one lines reservation leaves the others and is harmless twice'] = static function () use ($server) {
    seed();
    $answer = Reservation::release(['basketId' => 701], 0, $server);
    check($answer === ['basketId' => 701, 'released' => 2.0], 'two units released: ' . json_encode($answer));
    $order = Order::load(7);
    $lines = $order->getShipmentCollection()->getItemById(70)->getShipmentItemCollection();
    check($lines->getItemByBasketId(701)->getReservedQuantity() === 0.0, 'the line holds nothing');
    check($lines->getItemByBasketId(702)->getReservedQuantity() === 1.0, 'the other line keeps its reservation');
    check(Reservation::release(['basketId' => 701], 0, $server)['released'] === 0.0, 'again: nothing to release');
    refused(static fn() => Reservation::release(['basketId' => 999], 0, $server), 'BITRIXINFLOW_BASKET_NOT_FOUND');
};

$tests['the installer registers the module and its REST handler, and takes them back'] = static function () {
    require_once __DIR__ . '/../bitrixinflow.connector/install/index.php';
    $module = new bitrixinflow_connector();
    check($module->MODULE_ID === 'bitrixinflow.connector' && $module->MODULE_VERSION === '1.0.0', 'id and version');
    $module->DoInstall();
    check(isset(\Bitrix\Main\ModuleManager::$modules['bitrixinflow.connector']), 'registered');
    check(\Bitrix\Main\EventManager::$handlers === [[
        'rest', 'OnRestServiceBuildDescription', 'bitrixinflow.connector', '\\Bitrixinflow\\Connector\\RestService', 'describe',
    ]], 'the REST description handler');
    $module->DoUninstall();
    check(\Bitrix\Main\EventManager::$handlers === [] && \Bitrix\Main\ModuleManager::$modules === [], 'uninstalled');
};

foreach ($tests as $name => $test) {
    $ran++;
    $before = $failures;
    try {
        $test();
    } catch (Throwable $e) {
        $failures++;
        fwrite(STDERR, "ERROR in '$name': " . get_class($e) . ': ' . $e->getMessage() . "\n");
    }
    echo ($failures === $before ? 'ok   ' : 'FAIL ') . $name . "\n";
}
echo "$ran tests, $failures failure(s)\n";
exit($failures === 0 ? 0 : 1);
