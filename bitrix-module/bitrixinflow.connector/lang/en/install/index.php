<?php
$MESS['BITRIXINFLOW_MODULE_NAME'] = 'bitrix-inflow: marking codes and reservations';
$MESS['BITRIXINFLOW_MODULE_DESCRIPTION'] = 'REST methods for the bitrix-inflow service: Honest Sign marking codes on shipment lines (for the receipt), product barcodes, releasing one line\'s reservation.';
