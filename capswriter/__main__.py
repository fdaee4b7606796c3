from capswriter.cli import main

raise SystemExit(main())
