#if canImport(Glibc)
import Glibc
#endif

// SwiftPM links every executable with its own entry point (`<module>_main`, made the
// process's `main`), so libFuzzer's `main` is never the one that runs. Each target's
// main.swift therefore hands its `LLVMFuzzerTestOneInput` to libFuzzer's driver itself,
// with the process's arguments (-max_total_time=…, corpus directories, …).

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// Runs libFuzzer over `testOneInput` with the command line's arguments; exits with its status.
public func runFuzzer(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}
