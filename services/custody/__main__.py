from services.custody.app import main

main()
