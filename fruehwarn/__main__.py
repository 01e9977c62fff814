from fruehwarn.cli import main

main()
