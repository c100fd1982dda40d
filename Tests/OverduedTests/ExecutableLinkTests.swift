import Foundation
import Testing

/// The link flags of Package.swift (`leanExecutable`) hold for the built executable. They
/// change no behaviour; they are what keeps the idle daemon's resident memory down
/// (BENCHMARKS.md, 5a): without them the loader reads megabytes of relocations and exported
/// symbols at every start, and those pages stay mapped.
@Suite struct ExecutableLinkTests {
    @Test func relativeRelocationsArePacked() throws {
        let dynamic = try readelf("--dynamic", "--wide")
        #expect(dynamic.contains("(RELR)"), "no DT_RELR entry: not linked by lld with -z pack-relative-relocs\n\(dynamic)")
    }

    @Test func exportsNoSymbolsOfItsOwn() throws {
        let table = try readelf("--dyn-syms", "--wide")
        // Symbol lines: "Num: Value Size Type Bind Vis Ndx Name"; defined ones have a section index.
        let defined = table.split(separator: "\n").filter { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count >= 8 && fields[0].hasSuffix(":") && fields[6] != "UND" && fields[6] != "Ndx"
        }
        // The few the linker always defines (_end, _edata, __bss_start, a weak C++ helper);
        // with -export-dynamic it would be tens of thousands.
        #expect(defined.count <= 16, "\(defined.count) exported symbols, e.g. \(defined.prefix(5).joined(separator: ", "))")
    }

    private func readelf(_ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/readelf")
        process.arguments = arguments + [Binary.url.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "readelf \(arguments.joined(separator: " ")) \(Binary.url.path) failed")
        return String(decoding: data, as: UTF8.self)
    }
}
