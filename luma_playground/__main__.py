from luma_playground._cli_app import main

main()
