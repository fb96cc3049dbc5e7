from garden.cli import main

main()
