from tinymlaas.cli import main

main()
