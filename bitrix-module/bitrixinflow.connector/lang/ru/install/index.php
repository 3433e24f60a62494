<?php
$MESS['BITRIXINFLOW_MODULE_NAME'] = 'bitrix-inflow: коды маркировки и резервы';
$MESS['BITRIXINFLOW_MODULE_DESCRIPTION'] = 'REST-методы для сервиса bitrix-inflow: коды маркировки «Честный знак» в строках отгрузки (для чека), штрихкоды товаров, снятие резерва одной позиции.';
