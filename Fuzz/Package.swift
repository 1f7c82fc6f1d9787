// swift-tools-version:6.1
// Fuzz targets for Cloudstor's input boundaries (issue 27). A package of its own, so
// the root package's build is untouched: `Fuzz/run.sh` builds it with libFuzzer and
// AddressSanitizer into .build-fuzz and runs every target.
//
// The root package exports executables only, and SwiftPM lets another package use
// library products alone, so the product's library targets are declared again here
// over the very same sources (`Product` is a symlink to ../Sources). Keep the
// targets and dependencies below as in ../Package.swift.
import PackageDescription

let package = Package(
    name: "cloudstor-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
    ],
    targets: [
        // ---- The product's libraries, over ../Sources (as in ../Package.swift). ----
        .target(
            name: "CloudstorProto",
            dependencies: ["CloudstorRPC", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Product/Proto"
        ),
        .target(name: "CLinux", path: "Product/CLinux", linkerSettings: [.linkedLibrary("blkid")]),
        .target(
            name: "CloudstorSupport",
            dependencies: [
                "CLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Product/Support"
        ),
        .target(
            name: "CloudstorClient",
            dependencies: [
                "CloudstorProto", "CloudstorRPC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Product/Client"
        ),
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
            ],
            path: "Product/RPC"
        ),
        .target(
            name: "CloudstorAWS",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Product/AWS"
        ),
        .target(
            name: "CloudstorService",
            dependencies: [
                "CloudstorProto", "CLinux", "CloudstorSupport", "CloudstorRPC",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Product/Service"
        ),
        .target(
            name: "CloudstorShim",
            dependencies: [
                "CloudstorClient", "CloudstorProto", "CloudstorSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Product/Shim"
        ),

        // ---- The fuzz targets: one executable per boundary (Targets/<name>). ----
        .target(name: "FuzzSupport", path: "Targets/FuzzSupport"),
        .executableTarget(
            name: "shim_http",
            dependencies: [
                "FuzzSupport", "CloudstorShim", "CloudstorClient", "CloudstorSupport",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Targets/shim_http"
        ),
        .executableTarget(
            name: "shim_json",
            dependencies: [
                "FuzzSupport", "CloudstorShim", "CloudstorClient",
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Targets/shim_json"
        ),
        .executableTarget(
            name: "grpc_message",
            dependencies: [
                "FuzzSupport", "CloudstorRPC", "CloudstorProto",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Targets/grpc_message"
        ),
        .executableTarget(
            name: "grpc_connection",
            dependencies: [
                "FuzzSupport", "CloudstorRPC", "CloudstorService", "CloudstorSupport", "CloudstorProto",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ],
            path: "Targets/grpc_connection"
        ),
        .executableTarget(
            name: "volume_options",
            dependencies: ["FuzzSupport", "CloudstorService"],
            path: "Targets/volume_options"
        ),
        .executableTarget(
            name: "ec2_xml",
            dependencies: ["FuzzSupport", "CloudstorAWS"],
            path: "Targets/ec2_xml"
        ),
        .executableTarget(
            name: "efs_json",
            dependencies: ["FuzzSupport", "CloudstorAWS"],
            path: "Targets/efs_json"
        ),
        .executableTarget(
            name: "imds",
            dependencies: [
                "FuzzSupport", "CloudstorAWS",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Targets/imds"
        ),
    ],
    swiftLanguageModes: [.v6]
)
