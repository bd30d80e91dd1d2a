"""What each ``run_sweep.py`` command does: a launch (:mod:`.launch`), a worker joining a
study (:mod:`.worker`, also the entry point of the processes and cluster tasks a launch
starts) and a study's status (:mod:`.status`). Their parsers (:mod:`.parsers`) and the
process conventions they share (:mod:`.process`) import nothing heavy, so ``--help`` is
quick."""
