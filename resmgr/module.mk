# resmgr rules
