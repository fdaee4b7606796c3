import multiprocessing

from capswriter.cli import main

if __name__ == "__main__":
    # Worker processes of a frozen build re-enter here; let multiprocessing take them over.
    multiprocessing.freeze_support()
    raise SystemExit(main())
