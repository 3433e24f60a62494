<?php
$MESS['REST_SCOPE_BITRIXINFLOW'] = 'bitrix-inflow: коды маркировки и резервы';
$MESS['REST_SCOPE_BITRIXINFLOW_DESCRIPTION'] = 'Запись и чтение кодов маркировки строк отгрузки, штрихкоды товаров, снятие резерва позиции.';
