<?php
// A minimal stand-in of the Bitrix classes the module calls, with the behaviour it relies on (after the sale and
// catalog core: an order is loaded as a copy and written back only by save(); store rows may never hold more units
// than their shipment line; a shipped shipment's lines refuse changes). Not Bitrix: just enough to test against.

namespace Bitrix\Main {
    class Loader
    {
        public static function includeModule(string $module): bool
        {
            return true;
        }
    }

    class Result
    {
        private array $errors = [];

        public function addError(string $message): void
        {
            $this->errors[] = $message;
        }

        public function isSuccess(): bool
        {
            return $this->errors === [];
        }

        public function getErrorMessages(): array
        {
            return $this->errors;
        }
    }

    class EventManager
    {
        public static array $handlers = [];

        public static function getInstance(): self
        {
            return new self();
        }

        public function registerEventHandlerCompatible($from, $event, $module, $class, $method): void
        {
            self::$handlers[] = [$from, $event, $module, $class, $method];
        }

        public function unRegisterEventHandler($from, $event, $module, $class, $method): void
        {
            self::$handlers = array_values(array_filter(
                self::$handlers,
                static fn($h) => $h !== [$from, $event, $module, $class, $method]
            ));
        }
    }

    class ModuleManager
    {
        public static array $modules = [];

        public static function registerModule(string $id): void
        {
            self::$modules[$id] = true;
        }

        public static function unRegisterModule(string $id): void
        {
            unset(self::$modules[$id]);
        }
    }
}

namespace Bitrix\Main\Localization {
    class Loc
    {
        public static function loadMessages(string $file): void
        {
        }

        public static function getMessage(string $code): string
        {
            return $code;
        }
    }
}

namespace Bitrix\Rest {
    class RestException extends \Exception
    {
        private string $errorCode;
        private string $status;

        public function __construct($message, $code = '', $status = 0, ?\Exception $previous = null)
        {
            parent::__construct($message, 0, $previous);
            $this->errorCode = (string)$code;
            $this->status = $status === 0 ? \CRestServer::STATUS_WRONG_REQUEST : (string)$status;
        }

        public function getErrorCode(): string
        {
            return $this->errorCode;
        }

        public function getStatus(): string
        {
            return $this->status;
        }
    }
}

namespace {
    class CRestServer
    {
        public const STATUS_OK = '200 OK';
        public const STATUS_WRONG_REQUEST = '400 Bad Request';
        public const STATUS_FORBIDDEN = '403 Forbidden';
    }

    class CModule
    {
    }

    class StandInApplication
    {
        public string $saleRight = 'W';

        public function GetGroupRight(string $module): string
        {
            return $this->saleRight;
        }
    }

    $GLOBALS['APPLICATION'] = new StandInApplication();
}

namespace Bitrix\Sale {
    use Bitrix\Main\Result;

    /** The "database": orders as saved. Order::load hands out a copy; save() writes it back. */
    final class StandInDb
    {
        /** @var array<int, Order> */
        public static array $orders = [];
        public static int $saves = 0;

        public static function put(Order $order): void
        {
            self::$orders[$order->getId()] = $order;
        }
    }

    class Configuration
    {
        public static function getDefaultStoreId(): int
        {
            return 1;
        }
    }

    class Order
    {
        public function __construct(private int $id, public ShipmentCollection $shipments)
        {
        }

        public static function load($id): ?self
        {
            if ((int)$id <= 0) {
                throw new \InvalidArgumentException('id');
            }
            $stored = StandInDb::$orders[(int)$id] ?? null;
            return $stored === null ? null : unserialize(serialize($stored));
        }

        public function getId(): int
        {
            return $this->id;
        }

        public function getShipmentCollection(): ShipmentCollection
        {
            return $this->shipments;
        }

        public function save(): Result
        {
            StandInDb::$saves++;
            StandInDb::put(unserialize(serialize($this)));
            return new Result();
        }
    }

    class ShipmentCollection implements \IteratorAggregate
    {
        /** @param Shipment[] $items */
        public function __construct(public array $items)
        {
        }

        public function getIterator(): \ArrayIterator
        {
            return new \ArrayIterator($this->items);
        }

        public function getItemById($id): ?Shipment
        {
            foreach ($this->items as $shipment) {
                if ($shipment->getId() === (int)$id) {
                    return $shipment;
                }
            }
            return null;
        }
    }

    class Shipment
    {
        public function __construct(
            private int $id,
            public ShipmentItemCollection $items,
            public bool $system = false,
            public bool $shipped = false
        ) {
        }

        public function getId(): int
        {
            return $this->id;
        }

        public function isSystem(): bool
        {
            return $this->system;
        }

        public function isShipped(): bool
        {
            return $this->shipped;
        }

        public function getShipmentItemCollection(): ShipmentItemCollection
        {
            return $this->items;
        }
    }

    class ShipmentItemCollection implements \IteratorAggregate
    {
        /** @param ShipmentItem[] $items */
        public function __construct(public array $items)
        {
        }

        public function getIterator(): \ArrayIterator
        {
            return new \ArrayIterator($this->items);
        }

        public function getItemByBasketId($basketId): ?ShipmentItem
        {
            foreach ($this->items as $item) {
                if ($item->getBasketItem()->getId() === (int)$basketId) {
                    return $item;
                }
            }
            return null;
        }
    }

    class BasketItem
    {
        public function __construct(
            private int $id,
            private int $productId,
            private string $markingGroup = '',
            private bool $service = false
        ) {
        }

        public function getId(): int
        {
            return $this->id;
        }

        public function getProductId(): int
        {
            return $this->productId;
        }

        public function getMarkingCodeGroup(): string
        {
            return $this->markingGroup;
        }

        public function isSupportedMarkingCode(): bool
        {
            return $this->markingGroup !== '';
        }

        public function isReservableItem(): bool
        {
            return !$this->service;
        }
    }

    class ShipmentItem
    {
        public ShipmentItemStoreCollection $stores;

        public function __construct(
            private int $id,
            private BasketItem $basketItem,
            private float $quantity,
            public float $reserved = 0.0
        ) {
            $this->stores = new ShipmentItemStoreCollection($this);
        }

        public function getId(): int
        {
            return $this->id;
        }

        public function getQuantity(): float
        {
            return $this->quantity;
        }

        public function getBasketItem(): BasketItem
        {
            return $this->basketItem;
        }

        public function getShipmentItemStoreCollection(): ?ShipmentItemStoreCollection
        {
            return $this->basketItem->isReservableItem() ? $this->stores : null;
        }

        public function getReservedQuantity(): float
        {
            return $this->reserved;
        }

        public function tryUnreserve(): Result
        {
            $this->reserved = 0.0;
            return new Result();
        }
    }

    class ShipmentItemStoreCollection implements \IteratorAggregate, \Countable
    {
        /** @var ShipmentItemStore[] */
        public array $rows = [];

        public function __construct(public ShipmentItem $line)
        {
        }

        public function getIterator(): \ArrayIterator
        {
            return new \ArrayIterator(array_values($this->rows));
        }

        public function count(): int
        {
            return count($this->rows);
        }

        public function createItem(BasketItem $basketItem): ShipmentItemStore
        {
            $row = new ShipmentItemStore($this);
            $this->rows[] = $row;
            return $row;
        }

        public function remove(ShipmentItemStore $row): void
        {
            $this->rows = array_values(array_filter($this->rows, static fn($r) => $r !== $row));
        }

        public function quantity(): float
        {
            return array_sum(array_map(static fn($r) => (float)($r->fields['QUANTITY'] ?? 0), $this->rows));
        }
    }

    class ShipmentItemStore
    {
        public array $fields = ['QUANTITY' => 0, 'STORE_ID' => 0, 'MARKING_CODE' => '', 'BARCODE' => ''];

        public function __construct(private ShipmentItemStoreCollection $collection)
        {
        }

        public function setFields(array $values): Result
        {
            $result = new Result();
            $before = $this->fields;
            $this->fields = array_merge($this->fields, $values);
            // ShipmentItemStoreCollection::checkAvailableQuantity
            if ($this->collection->quantity() > $this->collection->line->getQuantity()) {
                $this->fields = $before;
                $result->addError('SALE_SHIPMENT_ITEM_STORE_QUANTITY_LARGER_ALLOWED');
            }
            return $result;
        }

        public function delete(): Result
        {
            $this->collection->remove($this);
            return new Result();
        }

        public function getMarkingCode(): string
        {
            return (string)$this->fields['MARKING_CODE'];
        }

        public function getStoreId(): int
        {
            return (int)$this->fields['STORE_ID'];
        }

        public function getQuantity(): float
        {
            return (float)$this->fields['QUANTITY'];
        }
    }
}

namespace Bitrix\Sale\Internals {
    use Bitrix\Sale\StandInDb;

    class ShipmentTable
    {
        public static function getRow(array $query): ?array
        {
            $id = (int)$query['filter']['=ID'];
            foreach (StandInDb::$orders as $order) {
                if ($order->getShipmentCollection()->getItemById($id) !== null) {
                    return ['ORDER_ID' => $order->getId()];
                }
            }
            return null;
        }
    }

    class BasketTable
    {
        public static function getRow(array $query): ?array
        {
            $id = (int)$query['filter']['=ID'];
            foreach (StandInDb::$orders as $order) {
                foreach ($order->getShipmentCollection() as $shipment) {
                    if ($shipment->getShipmentItemCollection()->getItemByBasketId($id) !== null) {
                        return ['ORDER_ID' => $order->getId()];
                    }
                }
            }
            return null;
        }
    }
}

namespace Bitrix\Catalog {
    final class StandInCatalog
    {
        /** @var array<int, array{group: string, barcodes: array<int, array{STORE_ID: int, ORDER_ID: ?int, BARCODE: string}>}> */
        public static array $products = [];
    }

    class ProductTable
    {
        public static function getRow(array $query): ?array
        {
            $id = (int)$query['filter']['=ID'];
            $product = StandInCatalog::$products[$id] ?? null;
            return $product === null ? null : ['ID' => $id, 'UF_PRODUCT_GROUP' => $product['group']];
        }
    }

    class StandInList
    {
        public function __construct(private array $rows)
        {
        }

        public function fetch(): array|false
        {
            return array_shift($this->rows) ?? false;
        }
    }

    class StoreBarcodeTable
    {
        public static function getList(array $query): StandInList
        {
            $filter = $query['filter'];
            $rows = [];
            foreach ($filter['=PRODUCT_ID'] as $id) {
                foreach (StandInCatalog::$products[$id]['barcodes'] ?? [] as $barcode) {
                    if ($barcode['ORDER_ID'] === $filter['=ORDER_ID'] && $barcode['STORE_ID'] === $filter['=STORE_ID']) {
                        $rows[] = ['PRODUCT_ID' => $id, 'BARCODE' => $barcode['BARCODE']];
                    }
                }
            }
            return new StandInList($rows);
        }
    }
}

namespace Bitrix\Catalog\Product {
    class SystemField
    {
        public const OPERATION_PROVIDER = 'provider';

        public static function getProviderSelectFields(): array
        {
            return ['MARKING_CODE_GROUP' => 'UF_PRODUCT_GROUP'];
        }

        public static function prepareRow(array &$row, string $operation): void
        {
            $row['MARKING_CODE_GROUP'] = ($row['UF_PRODUCT_GROUP'] ?? '') !== '' ? $row['UF_PRODUCT_GROUP'] : null;
            unset($row['UF_PRODUCT_GROUP']);
        }
    }
}
