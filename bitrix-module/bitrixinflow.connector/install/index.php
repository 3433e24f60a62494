<?php
// The installer Bitrix runs from Settings → Modules: registers the module and its REST methods.

use Bitrix\Main\EventManager;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\ModuleManager;

Loc::loadMessages(__FILE__);

class bitrixinflow_connector extends CModule
{
    public $MODULE_ID = 'bitrixinflow.connector';
    public $MODULE_VERSION;
    public $MODULE_VERSION_DATE;
    public $MODULE_NAME;
    public $MODULE_DESCRIPTION;
    public $PARTNER_NAME = 'bitrix-inflow';
    public $PARTNER_URI = '';

    public function __construct()
    {
        $arModuleVersion = [];
        include __DIR__ . '/version.php';
        $this->MODULE_VERSION = $arModuleVersion['VERSION'];
        $this->MODULE_VERSION_DATE = $arModuleVersion['VERSION_DATE'];
        $this->MODULE_NAME = Loc::getMessage('BITRIXINFLOW_MODULE_NAME');
        $this->MODULE_DESCRIPTION = Loc::getMessage('BITRIXINFLOW_MODULE_DESCRIPTION');
    }

    public function DoInstall()
    {
        ModuleManager::registerModule($this->MODULE_ID);
        // The rest module calls its handlers the old way (GetModuleEvents), so the compatible registration.
        EventManager::getInstance()->registerEventHandlerCompatible(
            'rest',
            'OnRestServiceBuildDescription',
            $this->MODULE_ID,
            '\\Bitrixinflow\\Connector\\RestService',
            'describe'
        );
        // The scope list is cached for days: a new scope shows only once the cache is gone.
        if (class_exists('\\Bitrix\\Rest\\Engine\\ScopeManager')) {
            \Bitrix\Rest\Engine\ScopeManager::cleanCache();
        }
        return true;
    }

    public function DoUninstall()
    {
        EventManager::getInstance()->unRegisterEventHandler(
            'rest',
            'OnRestServiceBuildDescription',
            $this->MODULE_ID,
            '\\Bitrixinflow\\Connector\\RestService',
            'describe'
        );
        ModuleManager::unRegisterModule($this->MODULE_ID);
        if (class_exists('\\Bitrix\\Rest\\Engine\\ScopeManager')) {
            \Bitrix\Rest\Engine\ScopeManager::cleanCache();
        }
        return true;
    }
}
