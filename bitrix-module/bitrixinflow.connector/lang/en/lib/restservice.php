<?php
$MESS['REST_SCOPE_BITRIXINFLOW'] = 'bitrix-inflow: marking codes and reservations';
$MESS['REST_SCOPE_BITRIXINFLOW_DESCRIPTION'] = 'Write and read the marking codes of shipment lines, product barcodes, release one line\'s reservation.';
