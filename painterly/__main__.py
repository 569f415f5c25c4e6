from painterly.cli.main import main

main()
