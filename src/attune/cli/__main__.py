from attune.cli.commands import main

main()
