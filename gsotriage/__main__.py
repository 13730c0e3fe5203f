from gsotriage.cli import main

main()
