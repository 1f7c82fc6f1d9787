// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "cloudstor",
    platforms: [.macOS(.v15)],
    products: [
        // cloudstord and cloudstor-shim: one file, run by the name of its link (`make` makes them).
        .executable(name: "cloudstor", targets: ["cloudstor"]),
        .executable(name: "cloudstorctl", targets: ["cloudstorctl"]),
        // The libraries behind them, for Fuzz/ (a package of its own, built with
        // libFuzzer); not an API: nothing in them is promised to stay.
        .library(
            name: "CloudstorInternals",
            targets: [
                "CloudstorAWS", "CloudstorAWSProvider", "CloudstorClient", "CloudstorProto", "CloudstorRPC", "CloudstorService", "CloudstorShim",
                "CloudstorSupport",
            ]
        ),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // Without its Foundation trait: Foundation's NSString layer brings ICU (30 MiB) along.
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Generated from proto/ by scripts/generate.sh and committed.
        .target(
            name: "CloudstorProto",
            dependencies: [
                "CloudstorRPC",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Sources/Proto"
        ),
        // Loop-device ioctls, unix-socket binding, syncfs, libblkid probing and malloc_trim, which Glibc does not expose to Swift.
        .target(name: "CLinux", path: "Sources/CLinux", linkerSettings: [.linkedLibrary("blkid")]),
        // SQLite's C API (Debian's libsqlite3-dev), for the node's state database.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // What the executables share: socket ownership, logging, settings, serving on one event loop.
        .target(
            name: "CloudstorSupport",
            dependencies: [
                "CLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/Support"
        ),
        // Everything a client of the daemon shares: connecting to its socket, errors.
        .target(
            name: "CloudstorClient",
            dependencies: [
                "CloudstorProto", "CloudstorRPC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Client"
        ),
        // gRPC on NIOHTTP2's frames: the daemon's server and its clients' unary client. Knows nothing of volumes.
        .target(
            name: "CloudstorRPC",
            dependencies: [
                "CloudstorSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Sources/RPC"
        ),
        // The AWS layer: SigV4, credentials, EC2/EFS/IMDS clients. Knows nothing of volumes.
        .target(
            name: "CloudstorAWS",
            dependencies: [
                "CloudstorSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/AWS"
        ),
        .target(
            name: "CloudstorService",
            dependencies: [
                "CloudstorProto", "CLinux", "CSQLite", "CloudstorSupport", "CloudstorRPC",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Sources/Service"
        ),
        // The AWS provider: EBS volumes as relocatable volumes, their records in tags.
        .target(
            name: "CloudstorAWSProvider",
            dependencies: [
                "CloudstorAWS", "CloudstorService", "CloudstorSupport", "CLinux",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/AWSProvider"
        ),
        .target(
            name: "CloudstorShim",
            dependencies: [
                "CloudstorClient", "CloudstorProto", "CloudstorSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Shim"
        ),
        .target(
            name: "CloudstorCtl",
            dependencies: [
                "CloudstorClient", "CloudstorProto", "CloudstorSupport", "CloudstorRPC",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/Ctl"
        ),
        // The daemon's command line: flags, the provider picked, the daemon run.
        .target(
            name: "CloudstorDaemon",
            dependencies: [
                "CloudstorService", "CloudstorAWSProvider", "CloudstorSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Daemon"
        ),
        .executableTarget(
            name: "cloudstor",
            dependencies: ["CloudstorDaemon", "CloudstorShim", "CloudstorSupport"]
        ),
        .executableTarget(
            name: "cloudstorctl",
            dependencies: ["CloudstorCtl"]
        ),
        // `make bench`: latency and throughput of each path into the daemon.
        .executableTarget(
            name: "cloudstor-bench",
            dependencies: [
                "CloudstorClient", "CloudstorProto", "CloudstorSupport", "CLinux",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "ServiceTests",
            dependencies: [
                "CloudstorService", "CloudstorClient", "CloudstorShim", "CloudstorCtl", "CloudstorSupport", "CloudstorProto",
                "CloudstorRPC",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "RPCTests",
            dependencies: [
                "CloudstorRPC", "CloudstorSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .testTarget(
            name: "AWSProviderTests",
            dependencies: ["CloudstorAWSProvider", "CloudstorAWS", "CloudstorService"]
        ),
        .testTarget(
            name: "AWSTests",
            dependencies: [
                "CloudstorAWS", "CloudstorAWSProvider",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["vectors"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
