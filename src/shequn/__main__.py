from shequn.cli.main import main

main()
