import CloudstorCtl

await CloudstorCtlCommand.main()
