from paklog.cli import main

main()
