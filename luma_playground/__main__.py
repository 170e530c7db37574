from luma_playground.cli import main

main()
