from catalog.cli import main

# Guarded: a process started with the "spawn" method (the service's sweep process) imports this module again
# under another name, and must not run the command line a second time.
if __name__ == "__main__":
    main()
