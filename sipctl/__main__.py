from sipctl.cli import main

main()
