from dlnsim._entry import main

raise SystemExit(main())
