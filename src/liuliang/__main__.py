from liuliang.cli.app import main

main()
