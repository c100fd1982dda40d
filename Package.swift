// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// Linux link flags for the executable: it is a long-running daemon, and these cut its
/// resident memory (BENCHMARKS.md, 5a) without changing its code.
/// - `lld` instead of gold, for `-z pack-relative-relocs`: the ~125,000 relative relocations of
///   the position-independent executable take 24 KB as RELR instead of 2.9 MB of `.rela.dyn`,
///   which the loader reads at start and which then stays mapped. Needs glibc 2.36 or later
///   (Debian 12) at build and run time.
/// - `--no-export-dynamic` undoes the `-export-dynamic` that `-static-stdlib` adds: nothing
///   looks up this executable's symbols at run time, and the exported table (2 MB of
///   `.dynsym`/`.dynstr`) was read by the loader on every start.
let leanExecutable = [
    "-use-ld=lld",
    "-Xlinker", "--no-export-dynamic",
    "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
]

/// Release builds place the functions a running daemon executes next to each other, in the
/// order `link/profile.sh` recorded (`make link-order` regenerates it). The kernel maps code
/// in 64 KiB neighbourhoods around each page touched, so ~2 MB of running code spread over
/// 26 MB of `.text` kept ~15 MB resident. The order moves code, never changes it; names the
/// file lists that no longer exist are skipped.
let codeOrder = [
    "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/link/overdued.order",
    "-Xlinker", "--no-warn-symbol-ordering",
]

let package = Package(
    name: "overdued",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "overdued", targets: ["overdued"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Already under async-http-client; named so that TLS errors can be told apart.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-algorithms", from: "1.2.1"),
        // Tests only: the certificates of the TLS tests, made in the test.
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // libsystemd (sd_notify, sd_journal_sendv) as a system library.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // Ignores SIGHUP/SIGUSR1 for `overdued run` before the Swift runtime starts.
        .target(name: "CEarlySignals"),
        .target(name: "CProcessMemory"),
        // Keeps SQLite from following a symbolic link at the state database's path.
        .target(name: "CStateFileGuard", linkerSettings: [.linkedLibrary("sqlite3")]),
        // Text from outside (tickets, receivers) as a terminal or log line may show it.
        .target(name: "TextEscaping", swiftSettings: strict),
        // A zone's offsets from the system's time-zone database (TZif files), not Foundation's
        // built-in copy.
        .target(name: "TimeZoneRules", swiftSettings: strict),
        // Typed, validated configuration: JSON with durations as strings.
        .target(
            name: "OverduedConfig",
            dependencies: ["TimeZoneRules", "TextEscaping"],
            swiftSettings: strict
        ),
        // SQLite: the app's tickets database (read-only) and overdued's own state database.
        .target(
            name: "Store",
            dependencies: [
                "CStateFileGuard", "TimeZoneRules",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite C API, for the bulk inserts that bind values straight to a statement.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                // Binary search in sorted ids (`partitioningIndex`).
                .product(name: "Algorithms", package: "swift-algorithms"),
            ],
            swiftSettings: strict
        ),
        // Rules engine, dedup decisions, the tick loop.
        .target(
            name: "Scheduler",
            dependencies: [
                "OverduedConfig", "Store", "TextEscaping", "TimeZoneRules",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Outbox delivery: payloads, signing, rate limit, retry policy, HTTP.
        .target(
            name: "Notifier",
            dependencies: [
                "OverduedConfig", "Store", "TextEscaping", "TimeZoneRules",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // The service manager protocol (sd_notify) and the journald log handler.
        .target(
            name: "Systemd",
            dependencies: [
                "CSystemd", "TextEscaping",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // `overdued run`: the tick loop and the notifier wired under systemd.
        .target(
            name: "Daemon",
            dependencies: [
                "OverduedConfig", "Store", "Scheduler", "Notifier", "Systemd", "TextEscaping", "TimeZoneRules", "CProcessMemory",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "overdued",
            dependencies: [
                "OverduedConfig", "Store", "Scheduler", "Notifier", "Systemd", "Daemon", "TextEscaping", "TimeZoneRules", "CEarlySignals",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            linkerSettings: [
                .unsafeFlags(leanExecutable, .when(platforms: [.linux])),
                .unsafeFlags(codeOrder, .when(platforms: [.linux], configuration: .release)),
            ]
        ),
        // Shared by the test targets: temporary folders.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        // Shared by the TLS tests: an authority and the certificates it issues, made in the test.
        .target(name: "TestCertificates", dependencies: [
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], path: "Tests/TestCertificates", swiftSettings: strict),
        .testTarget(name: "TextEscapingTests", dependencies: ["TextEscaping"], swiftSettings: strict),
        .testTarget(name: "TimeZoneRulesTests", dependencies: ["TimeZoneRules"], swiftSettings: strict),
        .testTarget(name: "OverduedConfigTests", dependencies: ["OverduedConfig", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "StoreTests", dependencies: ["Store", "TestSupport", "TimeZoneRules", .product(name: "GRDB", package: "GRDB.swift")], swiftSettings: strict),
        .testTarget(name: "SchedulerTests", dependencies: [
            "Scheduler", "OverduedConfig", "Store", "TestSupport", "TimeZoneRules", .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: strict),
        .testTarget(name: "NotifierTests", dependencies: [
            "Notifier", "OverduedConfig", "Store",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            "TestCertificates", "TestSupport",
        ], swiftSettings: strict),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd"], swiftSettings: strict),
        .testTarget(name: "DaemonTests", dependencies: [
            "Daemon", "OverduedConfig", "Store", "TestSupport", "TimeZoneRules", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .testTarget(name: "OverduedTests", dependencies: ["OverduedConfig", "Store", "Notifier", "TestSupport", "TestCertificates"], swiftSettings: strict),
    ]
)
