// Watches the inventory file. Editors save in different ways — in place, or by writing a
// temporary file and renaming it over the original (vim, sed -i, git checkout) — which
// replaces the inode a per-file watch would follow. So the directory is watched and events
// are filtered by name, then debounced so a save in several writes is read once.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface FileWatch {
  close(): void;
}

export function watchFile(file: string, debounceMs: number, onChange: () => void, onError: (err: Error) => void): FileWatch {
  const name = basename(file);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      // Some platforms omit the name; then any change in the directory counts.
      if (changed !== null && changed !== name) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    });
  } catch (err) {
    // The directory does not exist (yet): reloads still work on SIGHUP and through the API.
    onError(err as Error);
    return { close() {} };
  }
  watcher.on('error', onError);
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
