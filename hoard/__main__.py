from hoard.cli.main import main

main()
