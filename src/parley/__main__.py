from parley.command import main

raise SystemExit(main())
