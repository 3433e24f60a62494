from bitrix_inflow.cli import main

main()
