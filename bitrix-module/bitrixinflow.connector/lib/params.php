<?php
namespace Bitrixinflow\Connector;

/** Checks of the request parameters; each refusal names the parameter and what it must be. */
final class Params
{
    public const MAX_CODE_LENGTH = 200; // b_sale_store_barcode.MARKING_CODE

    public static function positiveInt(array $query, string $name): int
    {
        $value = $query[$name] ?? null;
        $text = is_scalar($value) ? trim((string)$value) : '';
        if ($text === '' || !ctype_digit($text) || (int)$text <= 0) {
            throw Errors::refuse('WRONG_PARAMETER', $name . ' must be a positive integer');
        }
        return (int)$text;
    }

    /** @return int[] */
    public static function ids(array $query, string $name): array
    {
        $value = $query[$name] ?? null;
        if (!is_array($value) || $value === []) {
            throw Errors::refuse('WRONG_PARAMETER', $name . ' must be a non-empty list of ids');
        }
        $ids = [];
        foreach ($value as $id) {
            $text = is_scalar($id) ? trim((string)$id) : '';
            if ($text === '' || !ctype_digit($text)) {
                throw Errors::refuse('WRONG_PARAMETER', $name . ' must be a non-empty list of ids');
            }
            $ids[] = (int)$text;
        }
        return array_values(array_unique($ids));
    }

    /** @return string[] */
    public static function codes(array $query): array
    {
        $value = $query['codes'] ?? [];
        if (!is_array($value)) {
            throw Errors::refuse('WRONG_PARAMETER', 'codes must be a list of marking codes (strings)');
        }
        $codes = [];
        foreach ($value as $code) {
            if (!is_string($code) || $code === '') {
                throw Errors::refuse('WRONG_PARAMETER', 'codes must be a list of marking codes (strings)');
            }
            if (strlen($code) > self::MAX_CODE_LENGTH) {
                throw Errors::refuse(
                    'WRONG_PARAMETER',
                    'a marking code is longer than ' . self::MAX_CODE_LENGTH . ' characters'
                );
            }
            $codes[] = $code;
        }
        return $codes;
    }
}
