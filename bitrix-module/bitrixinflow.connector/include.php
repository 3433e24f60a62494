<?php
// Bitrix loads the classes of lib/ by their namespace (Bitrixinflow\Connector\Marking → lib/marking.php).
