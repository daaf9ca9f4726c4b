using System.Runtime.InteropServices;

namespace HybridSeq.Models.Training;

/// <summary>
/// Writes a file so that the target path only ever holds a complete file: the content goes to a temporary file in
/// the same folder, is flushed to the disk, and is renamed over the target; then the folder entry is synced where the
/// platform allows it (Linux, macOS), so the rename survives a power loss too.
/// </summary>
public static class DurableFile
{
    /// <summary>Whether <see cref="Write"/> syncs the folder entry after the rename on this platform (libc's fsync
    /// on the folder, found on Linux and macOS).</summary>
    public static bool SyncsFolder => FolderSync.Available;

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>.</summary>
    /// <param name="path">The target file. Its folder is created if missing.</param>
    /// <param name="overwrite">false: refuse (IOException) when <paramref name="path"/> exists, leaving it untouched;
    /// true: replace it.</param>
    /// <param name="write">Writes the whole content to the stream it is given (a stream on the temporary file).</param>
    /// <exception cref="IOException">The target exists and <paramref name="overwrite"/> is false, or an I/O step
    /// failed. Whatever fails, no temporary file is left behind and the target is unchanged.</exception>
    public static void Write(string path, bool overwrite, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
            throw new IOException($"'{fullPath}' is a folder; expected a file path to write.");
        // Checked before the (possibly long) write so a refused call costs nothing; the no-overwrite rename below
        // closes the race with a file that appears meanwhile.
        if (!overwrite && File.Exists(fullPath))
            throw new IOException($"'{fullPath}' already exists; pass overwrite: true to replace it.");

        string folder = Path.GetDirectoryName(fullPath)!;
        Directory.CreateDirectory(folder);
        string temporaryPath = Path.Combine(folder,
            $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.None,
                       bufferSize: 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temporaryPath, fullPath, overwrite);
            }
            catch (IOException e) when (!overwrite && File.Exists(fullPath))
            {
                throw new IOException($"'{fullPath}' already exists; pass overwrite: true to replace it.", e);
            }
            SyncFolder(folder);
        }
        finally
        {
            if (File.Exists(temporaryPath))
                File.Delete(temporaryPath);
        }
    }

    // fsync(2) on the folder makes the new directory entry durable. .NET has no API for it, so libc is called
    // directly; on platforms without it (Windows: MoveFileEx has no such step) this does nothing.
    private static unsafe void SyncFolder(string folder)
    {
        if (!FolderSync.Available)
            return;
        IntPtr pathUtf8 = Marshal.StringToCoTaskMemUTF8(folder);
        try
        {
            int descriptor = FolderSync.Open((byte*)pathUtf8, 0 /* O_RDONLY */);
            if (descriptor < 0)
                throw new IOException($"could not open the folder '{folder}' to sync the renamed file's entry " +
                                      $"(errno {Marshal.GetLastSystemError()}).");
            int result = FolderSync.Fsync(descriptor);
            int error = Marshal.GetLastSystemError();
            FolderSync.Close(descriptor);
            if (result != 0)
                throw new IOException($"the file was written and renamed, but syncing the folder '{folder}' failed " +
                                      $"(errno {error}): the rename may not survive a power loss.");
        }
        finally
        {
            Marshal.FreeCoTaskMem(pathUtf8);
        }
    }

    private static unsafe class FolderSync
    {
        public static readonly bool Available;
        private static readonly delegate* unmanaged<byte*, int, int> open;
        private static readonly delegate* unmanaged<int, int> fsync;
        private static readonly delegate* unmanaged<int, int> close;

        static FolderSync()
        {
            string? library = OperatingSystem.IsLinux() ? "libc.so.6"
                : OperatingSystem.IsMacOS() ? "/usr/lib/libSystem.dylib" : null;
            if (library is null || !NativeLibrary.TryLoad(library, out IntPtr handle))
                return;
            if (!NativeLibrary.TryGetExport(handle, "open", out IntPtr openAddress) ||
                !NativeLibrary.TryGetExport(handle, "fsync", out IntPtr fsyncAddress) ||
                !NativeLibrary.TryGetExport(handle, "close", out IntPtr closeAddress))
                return;
            open = (delegate* unmanaged<byte*, int, int>)openAddress;
            fsync = (delegate* unmanaged<int, int>)fsyncAddress;
            close = (delegate* unmanaged<int, int>)closeAddress;
            Available = true;
        }

        // errno is read with Marshal.GetLastSystemError right after each call; nothing in between touches it.
        public static int Open(byte* path, int flags) => open(path, flags);
        public static int Fsync(int descriptor) => fsync(descriptor);
        public static int Close(int descriptor) => close(descriptor);
    }
}
