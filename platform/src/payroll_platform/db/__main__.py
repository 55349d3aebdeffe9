from payroll_platform.db.cli import main

raise SystemExit(main())
