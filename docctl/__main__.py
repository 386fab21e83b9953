from docctl.cli import main

main()
