import ArgumentParser
import CloudstorClient
import CloudstorProto
import CloudstorSupport
import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// `make bench`: p50/p99 and calls/s of each path into the daemon, with the ratio
/// of each p50 to a raw unix-socket echo measured in the same run.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudstor-bench", abstract: "Measure Cloudstor's call paths against a raw unix-socket round trip.")

    @Option(help: "Directory with release builds of cloudstord and cloudstor-shim.") var bin: String
    @Option(help: "Calls per measured path.") var calls = 5000
    @Option(help: "Mount+Unmount cycles.") var cycles = 50

    func run() async throws {
        print(Machine.describe())
        let dir = "/tmp/cs-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let daemon = try Child.start(
            "\(bin)/cloudstord", ["--socket", "\(dir)/d.sock", "--state-dir", "\(dir)/state", "--log-level", "warning"],
            socket: "\(dir)/d.sock")
        defer { daemon.stop() }
        let shim = try Child.start(
            "\(bin)/cloudstor-shim", ["--listen", "\(dir)/p.sock", "--service-socket", "\(dir)/d.sock", "--log-level", "warning"],
            socket: "\(dir)/p.sock")
        defer { shim.stop() }

        var results: [Measurement] = []
        var mountRatio = 0.0
        let echo = try EchoServer(path: "\(dir)/echo.sock")
        let echoClient = try RawSocket(path: echo.path)
        let payload = [UInt8](repeating: 0x61, count: 64)
        var reply = [UInt8](repeating: 0, count: 64)
        results.append(
            try await Measurement.run("raw unix-socket echo (floor)", count: calls * 4, warmup: 100) {
                try echoClient.send(payload)
                try echoClient.receive(payload.count, into: &reply)
            })

        // The client as the shim runs it: its connection and this task on one event
        // loop, so that the figures are the daemon's and not thread hops in the client.
        try await MultiThreadedEventLoopGroup.withEventLoopGroup(numberOfThreads: 1) { loops in
            try await withTaskExecutorPreference(EventLoopExecutor(loops.next())) {
                try await measureCalls(dir: dir, loops: loops, results: &results, mountRatio: &mountRatio)
            }
        }
        print(Self.table(results))
        print(String(format: "\nlocal Mount+Unmount / its kernel floor (p50, interleaved): %.2f×", mountRatio))
    }

    func measureCalls(dir: String, loops: MultiThreadedEventLoopGroup, results: inout [Measurement], mountRatio: inout Double) async throws {
        try await DaemonClient.with(socketPath: "\(dir)/d.sock", loop: loops.next()) { volumes in
            _ = try await volumes.create(.with { $0.name = "bench"; $0.options = ["size": "1"] })
            results.append(
                try await Measurement.run("gRPC Capabilities (Swift client; no handler work)", count: calls, warmup: 100) {
                    _ = try await volumes.capabilities()
                })
            results.append(
                try await Measurement.run("gRPC Get (Swift client)", count: calls, warmup: 100) {
                    _ = try await volumes.get(.with { $0.name = "bench" })
                })

            results.append(
                try await Measurement.run("gRPC Get (Swift client, with a deadline)", count: calls, warmup: 100) {
                    _ = try await volumes.get(.with { $0.name = "bench" }, timeout: .seconds(55))
                })

            let http = try RawSocket(path: "\(dir)/p.sock")
            let body = #"{"Name":"bench"}"#
            let request = Array(
                ("POST /VolumeDriver.Get HTTP/1.1\r\nHost: plugin\r\nUser-Agent: Go-http-client/1.1\r\n"
                    + "Accept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: \(body.utf8.count)\r\n"
                    + "Accept-Encoding: gzip\r\n\r\n\(body)").utf8)
            results.append(
                try await Measurement.run("Get through the shim (Docker's HTTP)", count: calls, warmup: 100) {
                    try http.send(request)
                    let (status, _) = try http.receiveHTTP()
                    guard status == 200 else { throw BenchError("shim answered \(status)") }
                })

            // Interleaved with what the kernel alone charges for the same image.
            var mounts = Measurement(name: "Mount+Unmount of a local relocatable volume")
            var floor = Measurement(name: "kernel floor: loop attach, mount(2), syncfs, umount2 of the same image")
            let kernel = KernelMount(image: "\(dir)/state/images/bench", at: "\(dir)/floor")
            for cycle in -2..<cycles {
                let daemonCycle = try await Measurement.time {
                    _ = try await volumes.mount(.with { $0.name = "bench"; $0.id = "c\(cycle)" })
                    _ = try await volumes.unmount(.with { $0.name = "bench"; $0.id = "c\(cycle)" })
                }
                let kernelCycle = try await Measurement.time { try kernel.cycle() }
                guard cycle >= 0 else { continue }   // warm-up
                mounts.add(daemonCycle)
                floor.add(kernelCycle)
            }
            results += [mounts, floor]
            mountRatio = mounts.percentile(0.5).seconds / floor.percentile(0.5).seconds
            _ = try await volumes.remove(.with { $0.name = "bench" })

            _ = try await volumes.create(.with { $0.name = "shared"; $0.options = ["backing": "shared"] })
            results.append(
                try await Measurement.run("gRPC Get of a shared volume (metadata read from the shared root)", count: calls, warmup: 100) {
                    _ = try await volumes.get(.with { $0.name = "shared" })
                })
            var cycle = 0
            results.append(
                try await Measurement.run("Mount+Unmount of a shared volume (lock, hold record written and removed)", count: cycles * 10, warmup: 5) {
                    cycle += 1
                    _ = try await volumes.mount(.with { $0.name = "shared"; $0.id = "s\(cycle)" })
                    _ = try await volumes.unmount(.with { $0.name = "shared"; $0.id = "s\(cycle)" })
                })
            _ = try await volumes.remove(.with { $0.name = "shared" })

            // Removing a large shared volume is one rename; its files go in the background.
            var removes = Measurement(name: "Remove of a shared volume of 10,000 files (the call)")
            var deletes = Measurement(name: "rm -r of the same 10,000 files (what the call no longer waits for)")
            for round in 0..<3 {
                let name = "big\(round)"
                _ = try await volumes.create(.with { $0.name = name; $0.options = ["backing": "shared"] })
                try Self.fill("\(dir)/state/shared/\(name)")
                removes.add(try await Measurement.time { _ = try await volumes.remove(.with { $0.name = name }) })
                try Self.fill("\(dir)/tree\(round)")
                deletes.add(try await Measurement.time { try FileManager.default.removeItem(atPath: "\(dir)/tree\(round)") })
            }
            results += [removes, deletes]
        }
    }

    /// 100 directories of 100 small files.
    static func fill(_ path: String) throws {
        let bytes = Data(repeating: 0x78, count: 64)
        for i in 0..<100 {
            let sub = "\(path)/d\(i)"
            try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
            for j in 0..<100 {
                guard FileManager.default.createFile(atPath: "\(sub)/f\(j)", contents: bytes) else { throw BenchError("cannot write \(sub)/f\(j)") }
            }
        }
    }

    static func table(_ results: [Measurement]) -> String {
        let floor = results[0].percentile(0.5).seconds
        var lines = ["| path | calls | p50 ms | p99 ms | calls/s | p50 / floor |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for m in results {
            lines.append(
                "| \(m.name) | \(m.samples.count) | \(m.percentile(0.5).milliseconds) | \(m.percentile(0.99).milliseconds) | "
                    + String(format: "%.0f", m.callsPerSecond) + " | " + String(format: "%.1f×", m.percentile(0.5).seconds / floor) + " |")
        }
        return lines.joined(separator: "\n")
    }
}

/// A process the bench starts and stops by pid.
struct Child {
    let process: Process

    static func start(_ path: String, _ arguments: [String], socket: String) throws -> Child {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        try process.run()
        for _ in 0..<300 {
            if (try? RawSocket(path: socket)) != nil { return Child(process: process) }
            guard process.isRunning else { throw BenchError("\(path) exited with \(process.terminationStatus)") }
            usleep(20_000)
        }
        process.terminate()
        throw BenchError("\(path) did not listen on \(socket)")
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

enum Machine {
    static func describe() -> String {
        var u = utsname()
        uname(&u)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let memory = ProcessInfo.processInfo.physicalMemory >> 30
        return """
            machine: \(field(u.sysname)) \(field(u.release)) \(field(u.machine)), \(ProcessInfo.processInfo.activeProcessorCount) cores (\(cpu)), \(memory) GiB
            date: \(Date().formatted(.iso8601))

            """
    }
}
