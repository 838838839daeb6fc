from citadel_tui.cli import main

raise SystemExit(main())
