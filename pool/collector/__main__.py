"""`python -m glidein.pool.collector` is `glidein collector`."""

from glidein.cli.main import main

if __name__ == "__main__":
    main(["collector", *__import__("sys").argv[1:]])
