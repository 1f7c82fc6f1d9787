import CloudstorCtl

@main
enum Main {
    static func main() async {
        await CloudstorCtlCommand.main()
    }
}
