"""`python -m sumprobe` runs the command-line tool."""

from sumprobe.cli import main

if __name__ == "__main__":
    main()
