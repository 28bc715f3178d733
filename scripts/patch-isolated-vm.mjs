#!/usr/bin/env node
// Builds isolated-vm from its own source with mcp-v8's patch, at install time (postinstall).
//
// Why: when a run is stopped (timeout, cancel) its isolate is disposed, which terminates the
// JavaScript running in it once. isolated-vm's own C++ then reads the `message` and `stack` of
// what the code threw, or of an unhandled rejection's reason, and each read may run a getter or a
// proxy trap of the sandboxed code. A loop there is never terminated again: the isolate's thread
// stays busy forever (`throw { get message() { for (;;) {} }, get stack() { for (;;) {} } }`).
// The patch makes a terminated isolate run none of its code after the termination: no property
// reads of a thrown value, no microtasks, no copy of unhandled rejections. docs/exec.md, "Limits".
// And memory: V8's own heap limit gets headroom over the limit asked for (which isolated-vm's
// checks keep enforcing), so that one allocation past the limit (a dictionary doubling its
// table) ends the run out of memory instead of killing V8 beyond recovery and parking its
// thread; a terminated isolate gets memory once more, then none. docs/exec.md, "Safety".
//
// Plain JavaScript on purpose: npm may run it under an older Node than the server's (Node 24).
//   node scripts/patch-isolated-vm.mjs            build if needed; on failure warn, exit 0
//   node scripts/patch-isolated-vm.mjs --strict   the same, but a failure exits 1 (CI)
// Without a C++ toolchain (g++, make, python3) the prebuilt isolated-vm stays in use: the server
// then logs a warning at start, and ends a run whose isolate never answers after 2 s anyway.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';

const strict = process.argv.includes('--strict');
const require = createRequire(import.meta.url);

/** The patch: exact edits of isolated-vm 7.0.1's source; a source that differs stops the build. */
const supportedVersion = '7.0.1';
const edits = [
  {
    file: 'src/external_copy/external_copy.cc',
    before: `		auto get_property = [&](Local<Object> object, const char* key) {
			try {`,
    after: `		auto get_property = [&](Local<Object> object, const char* key) {
			// mcp-v8 patch: a terminated isolate runs none of its code (a getter, a proxy trap):
			// each read would need a termination of its own, and no second one comes.
			if (IsolateEnvironment::GetCurrent().terminated) {
				return ExternalCopyString{};
			}
			try {`,
  },
  {
    file: 'src/isolate/environment.cc',
    before: `auto IsolateEnvironment::TaskEpilogue() -> std::unique_ptr<ExternalCopy> {
	isolate->PerformMicrotaskCheckpoint();`,
    after: `auto IsolateEnvironment::TaskEpilogue() -> std::unique_ptr<ExternalCopy> {
	// mcp-v8 patch: a terminated isolate runs no more microtasks and copies no rejection reason
	// (copying reads its properties, which may run the isolate's code).
	if (terminated) {
		unhandled_promise_rejections.clear();
		return {};
	}
	isolate->PerformMicrotaskCheckpoint();`,
  },
  {
    // One allocation larger than what is left under V8's own old-generation limit (a dictionary
    // doubling its table: \`m['k'+i]=i\`) never reaches the near-heap-limit callback: V8 runs its
    // last-resort GCs and dies in FatalProcessOutOfMemory, parking the thread. V8's limit gets
    // headroom (2 × the limit + 16 MiB) so that allocation fits; isolated-vm's own checks below
    // keep enforcing the limit asked for (its GC epilogue terminates the isolate past it).
    file: 'src/isolate/environment.cc',
    before: `	size_t old_generation_size_in_mb = memory_limit_in_mb;`,
    after: `	// mcp-v8 patch: headroom in V8's limit; isolated-vm's checks keep \`memory_limit\`.
	size_t old_generation_size_in_mb = memory_limit_in_mb * 2 + 16;`,
  },
  {
    // The young generation and V8's overheads beyond the old generation, as before the headroom.
    file: 'src/isolate/environment.cc',
    before: `	misc_memory_size = heap.heap_size_limit() - memory_limit_in_mb * 1024 * 1024;`,
    after: `	misc_memory_size = heap.heap_size_limit() - old_generation_size_in_mb * 1024 * 1024;`,
  },
  {
    // A terminated isolate gets memory once more, then no more. Code that ignores termination (a
    // C++ builtin's own loop: fill over a proxy of a 1e9-long array) would otherwise be granted
    // 1 GiB per call and run on, busy past its deadline; refused, V8 ends it out of memory (the
    // catastrophic handler parks the thread). One grant is kept: the allocation under way when
    // the GC epilogue terminates still needs its memory. It is sized for a table or a string
    // doubling (twice the used heap, at least the limit, + 16 MiB): a Set of integers at 64 MiB
    // is terminated by the GC its 80 MB table's doubling starts, and the new 168 MB table did not
    // fit the limit + 16 MiB (V8 died in CALL_AND_RETRY_LAST, the thread parked).
    file: 'src/isolate/environment.cc',
    before: `auto IsolateEnvironment::NearHeapLimitCallback(void* data, size_t current_heap_limit, size_t /*initial_heap_limit*/) -> size_t {
	// This callback will temporarily give the v8 vm up to an extra 1 GB of memory to prevent the
	// application from crashing.
	auto* that = static_cast<IsolateEnvironment*>(data);`,
    after: `auto IsolateEnvironment::NearHeapLimitCallback(void* data, size_t current_heap_limit, size_t initial_heap_limit) -> size_t {
	// This callback will temporarily give the v8 vm up to an extra 1 GB of memory to prevent the
	// application from crashing.
	auto* that = static_cast<IsolateEnvironment*>(data);
	// mcp-v8 patch: a terminated isolate gets one grant, for a doubling of its largest object, then none.
	if (that->terminated) {
		if (current_heap_limit > initial_heap_limit) {
			return current_heap_limit;
		}
		HeapStatistics heap;
		that->isolate->GetHeapStatistics(&heap);
		return current_heap_limit + std::max(2 * heap.used_heap_size(), that->memory_limit) + 16 * 1024 * 1024;
	}`,
  },
  {
    // A grant is kept until the allocation that needed it is done. V8 asks the callback before
    // its last-resort GCs and retries the allocation after them; the epilogue of those GCs took
    // the grant back (its ratchet), so the allocation failed anyway and V8 died in
    // CALL_AND_RETRY_LAST: a Set of integers at 48 MiB, whose 40 MB table doubles to 80 MB. Now
    // the first interrupt after the grant (JavaScript runs again: the allocation is done) ends
    // it, and checks the heap against the limit asked for at once: no GC may come before the
    // next doubling (a Set's entries live in its table), which would need a grant of its own.
    file: 'src/isolate/environment.cc',
    before: `	that->did_adjust_heap_limit = true;
	HeapStatistics heap;`,
    after: `	that->did_adjust_heap_limit = true;
	// mcp-v8 patch: the grant stays until the first interrupt, which checks the heap.
	that->heap_grant_pending = true;
	that->isolate->RequestInterrupt([](Isolate* isolate, void* data) {
		auto* that = static_cast<IsolateEnvironment*>(data);
		that->heap_grant_pending = false;
		if (that->terminated) {
			return;
		}
		HeapStatistics heap;
		isolate->GetHeapStatistics(&heap);
		if (heap.used_heap_size() + that->extra_allocated_memory > that->memory_limit + that->misc_memory_size) {
			// A full GC: its epilogue terminates the isolate if the heap is still past the limit.
			isolate->LowMemoryNotification();
		}
	}, that);
	HeapStatistics heap;`,
  },
  {
    file: 'src/isolate/environment.cc',
    before: `		if (that->did_adjust_heap_limit) {
			// There is also`,
    after: `		if (that->did_adjust_heap_limit && !that->heap_grant_pending) {
			// There is also`,
  },
  {
    file: 'src/isolate/environment.h',
    before: `		bool did_adjust_heap_limit = false;
`,
    after: `		bool did_adjust_heap_limit = false;
		bool heap_grant_pending = false; // mcp-v8 patch: a near-heap-limit grant not yet used
`,
  },
  {
    // Threads that run isolates get a name of their own: every thread the process starts from its
    // main thread is named "MainThread" (LevelDB's compaction too), and the server lowers the
    // priority of busy isolate threads by name (src/exec/thread-nice.ts): exactly these.
    file: 'src/lib/thread_pool.cc',
    before: `#include <functional>

namespace ivm {
`,
    after: `#include <functional>
#ifdef __linux__
#include <pthread.h>
#endif

namespace ivm {

// mcp-v8 patch: isolate threads are named so (src/exec/thread-nice.ts looks for this name).
static void name_isolate_thread() {
#ifdef __linux__
	pthread_setname_np(pthread_self(), "ivm-isolate");
#endif
}
`,
  },
  {
    file: 'src/lib/thread_pool.cc',
    before: `				std::thread tmp_thread{[=]() { entry(false, param); }};`,
    after: `				std::thread tmp_thread{[=]() { name_isolate_thread(); entry(false, param); }};`,
  },
  {
    file: 'src/lib/thread_pool.cc',
    before: `  data.thread = std::thread{[this, &data]() {
`,
    after: `  data.thread = std::thread{[this, &data]() {
    name_isolate_thread();
`,
  },
  {
    // The epilogue takes a grant back by restoring V8's limit: to its old-generation limit with
    // the headroom, not to the limit asked for (which would leave the isolate without headroom).
    file: 'src/isolate/environment.cc',
    before: `			isolate->RemoveNearHeapLimitCallback(NearHeapLimitCallback, that->memory_limit);`,
    after: `			isolate->RemoveNearHeapLimitCallback(NearHeapLimitCallback, that->initial_heap_size_limit - that->misc_memory_size);`,
  },
];

// ---- mcp-v8 patch, issue 23: one answer per run, and no host stack where none is read ----
// (A block of its own: others patch isolated-vm too. Each `after` keeps its `before`'s text.)
edits.push(
  {
    // A stateless run is two calls sent together (src/exec/isolate-pool.ts, `attachAndRun`): the
    // attach-and-run, then the state after its microtasks. Each answer woke the event loop, and
    // the loop often slept again between the two (the second is ≈ 30 µs behind). A call made with
    // the option `answerWithNext` answers without waking its caller: the next answer to the same
    // caller wakes it for both, in order, or the callee's thread does when it runs out of tasks.
    // Nor does it wake its callee (below): it runs when the next call to that isolate is sent,
    // which the caller must send (a run sends the state call right behind it).
    // Without the option (and without this patch) every call and answer wakes, as before.
    file: 'src/isolate/three_phase_task.h',
    before: `		virtual void Phase2() = 0;`,
    after: `		// mcp-v8 patch: the answer waits for the next answer's wake (the option \`answerWithNext\`).
		bool answer_with_next = false;

		virtual void Phase2() = 0;`,
  },
  {
    file: 'src/isolate/three_phase_task.cc',
    before: `	did_run = true;
	auto schedule_error = [&](std::unique_ptr<ExternalCopy> error) {
		// Schedule a task to enter the first isolate so we can throw the error at the promise
		auto* holder = info.remotes.GetIsolateHolder();
		holder->ScheduleTask(std::make_unique<Phase3Failure>(std::move(self), std::move(info), std::move(error)), false, true);
	};`,
    after: `	did_run = true;
	// mcp-v8 patch: an answer of a call made with \`answerWithNext\` is queued for its caller
	// without a wake, owed by this isolate; the next answer to that caller wakes it for both, or
	// IsolateEnvironment::AsyncEntry does when this thread runs out of tasks.
	const bool wake_caller = !self->answer_with_next;
	auto caller = info.remotes.GetSharedIsolateHolder();
	auto answer_to_caller = [&](std::unique_ptr<Runnable> answer) {
		auto& callee = IsolateEnvironment::GetCurrent();
		if (wake_caller) {
			if (callee.owed_wake == caller) {
				callee.owed_wake = {};
			}
		} else {
			callee.PayOwedWake();
			callee.owed_wake = caller;
		}
		caller->ScheduleTask(std::move(answer), false, wake_caller);
	};
	auto schedule_error = [&](std::unique_ptr<ExternalCopy> error) {
		// Schedule a task to enter the first isolate so we can throw the error at the promise
		answer_to_caller(std::make_unique<Phase3Failure>(std::move(self), std::move(info), std::move(error)));
	};`,
  },
  {
    file: 'src/isolate/three_phase_task.cc',
    before: `			auto* holder = info.remotes.GetIsolateHolder();
			holder->ScheduleTask(std::make_unique<Phase3Success>(std::move(self), std::move(info)), false, true);`,
    after: `			// mcp-v8 patch: see \`answer_to_caller\` above.
			answer_to_caller(std::make_unique<Phase3Success>(std::move(self), std::move(info)));`,
  },
  {
    file: 'src/isolate/environment.h',
    before: `		std::atomic<bool> terminated { false };`,
    after: `		std::atomic<bool> terminated { false };
		// mcp-v8 patch: the caller an answer was queued for without a wake (three_phase_task.cc);
		// touched only by the thread that holds this isolate.
		std::shared_ptr<IsolateHolder> owed_wake;
		void PayOwedWake();`,
  },
  {
    file: 'src/isolate/environment.cc',
    before: `void IsolateEnvironment::AsyncEntry() {
	Executor::Lock lock(*this);`,
    after: `// mcp-v8 patch: wakes the caller an answer was queued for without a wake (three_phase_task.cc).
void IsolateEnvironment::PayOwedWake() {
	struct Wake final : Runnable {
		void Run() final {}
	};
	auto caller = std::exchange(owed_wake, {});
	if (caller) {
		caller->ScheduleTask(std::make_unique<Wake>(), false, true);
	}
}

void IsolateEnvironment::AsyncEntry() {
	Executor::Lock lock(*this);
	// mcp-v8 patch: whatever way this returns, an answer still owed its wake gets it.
	struct PayOnReturn {
		IsolateEnvironment& env;
		~PayOnReturn() { env.PayOwedWake(); }
	} pay_on_return{*this};`,
  },
  {
    file: 'src/module/context_handle.cc',
    before: `			timeout_ms = ReadOption<int32_t>(maybe_options, StringTable::Get().timeout, timeout_ms);
		}

		void Phase2() final {
			// Setup isolate's context`,
    after: `			timeout_ms = ReadOption<int32_t>(maybe_options, StringTable::Get().timeout, timeout_ms);
			// mcp-v8 patch: evalClosure(…, { answerWithNext: true }) (three_phase_task.cc).
			answer_with_next = ReadOption<bool>(maybe_options, "answerWithNext", false);
		}

		void Phase2() final {
			// Setup isolate's context`,
  },
  {
    // The call made with \`answerWithNext\` does not wake its callee either: the call sent right
    // behind it does, so the callee's thread finds both in one batch. Else, with the caller's thread
    // descheduled between its two sends (a busy machine), the callee could finish the first before
    // the second came, run out of tasks and wake the caller for the first answer alone.
    file: 'src/isolate/three_phase_task.h',
    before: `					// Schedule Phase2 async
					second_isolate.ScheduleTask(
						std::make_unique<Phase2Runner>(
							std::make_unique<T>(std::forward<Args>(args)...), // <-- Phase1 / ctor called here
							CalleeInfo{promise_local, context_local, stack_trace}
						), false, true
					);`,
    after: `					// Schedule Phase2 async
					// mcp-v8 patch: a call made with \`answerWithNext\` waits for the next call's wake of the callee.
					auto phase1 = std::make_unique<T>(std::forward<Args>(args)...); // <-- Phase1 / ctor called here
					const bool wake_callee = !phase1->answer_with_next;
					second_isolate.ScheduleTask(
						std::make_unique<Phase2Runner>(
							std::move(phase1),
							CalleeInfo{promise_local, context_local, stack_trace}
						), false, wake_callee
					);`,
  },
  {
    // Every asynchronous call recorded the caller's stack, 10 frames (4.6 % of the event loop's
    // CPU at 1000 runs/s, bench/RESULTS.md), for the stack of an error it may reject with. The
    // server reads none of it (src/exec/outcome.ts drops the host's frames): with
    // MCP_V8_IVM_HOST_STACK_FRAMES set (src/exec/isolate-pool.ts sets 0), that many are recorded.
    file: 'src/isolate/three_phase_task.h',
    before: `				auto stack_trace = v8::StackTrace::CurrentStackTrace(isolate, 10);`,
    after: `				// mcp-v8 patch: the caller's stack, as many frames as MCP_V8_IVM_HOST_STACK_FRAMES says (10 unset).
				static const int host_stack_frames = [] {
					const char* frames = std::getenv("MCP_V8_IVM_HOST_STACK_FRAMES");
					return frames == nullptr ? 10 : std::max(0, std::atoi(frames));
				}();
				auto stack_trace = v8::StackTrace::CurrentStackTrace(isolate, host_stack_frames);`,
  },
  {
    file: 'src/isolate/three_phase_task.h',
    before: `#include <memory>

namespace ivm {`,
    after: `#include <memory>
#include <algorithm> // mcp-v8 patch: std::max
#include <cstdlib> // mcp-v8 patch: std::getenv, std::atoi

namespace ivm {`,
  },
);

// Issue 18: a sandbox isolate's garbage collection runs on its own thread. V8 marks and sweeps a
// heap on the process's shared platform workers (node's pool, at normal priority) unless the
// isolate is not "user blocking": then V8 runs in efficiency mode for it (Heap::
// ShouldUseBackgroundThreads) and keeps its GC on the isolate's thread, which the server lowers
// when busy (src/exec/thread-nice.ts). A memory bomb's marking took 80 ms of worker CPU per run
// beside 50 ms of its own, on threads no lowering reaches. Process flags set by
// src/exec/isolate-pool.ts keep the atomic pause single-threaded too and leave tier-up as it
// was (V8 delays Turbofan in efficiency mode). Node's own isolate stays user blocking.
edits.push({
  file: 'src/isolate/environment.cc',
  before: `	isolate->SetOOMErrorHandler(OOMErrorCallback);
`,
  after: `	isolate->SetOOMErrorHandler(OOMErrorCallback);
	// mcp-v8 patch: GC on this isolate's own thread (efficiency mode), not the shared workers.
	isolate->SetPriority(Isolate::Priority::kUserVisible);
`,
});

// ---- mcp-v8 patch, issues 18/21/23: isolates made and disposed off the event loop ----
// (A block of its own: others patch isolated-vm too. Each `after` keeps its `before`'s text.)
// `new ivm.Isolate({ memoryLimit, snapshot })` builds the V8 isolate (heap set-up and the
// snapshot's deserialization) on the calling thread: 2–3.5 ms of the event loop per isolate
// (bench/isolate-lifecycle.ts, bench/RESULTS.md), paid whenever the pool retires one and makes
// its replacement. `ivm.Isolate.createAsync(options)` reads the same options on the loop, makes the
// environment and its holder there (their executor and scheduler belong to the loop's thread),
// builds the V8 isolate on libuv's thread pool, and resolves with the Isolate on the loop.
// `isolate.disposeAsync()` disposes as `dispose()` does (the isolate is disposed from then on), but
// V8's teardown of an idle isolate's heap, which `dispose()` ran on the loop, runs on the pool;
// it resolves when the isolate's last reference is dropped there (an isolate busy on its own
// thread is torn down by that thread, as with `dispose()`). While the work is under way the
// loop's own isolate holds a reference on its libuv handle, so that a task scheduled to it from
// the pool thread (a RemoteHandle freed with the isolate) may wake it.
edits.push(
  {
    file: 'src/isolate/environment.h',
    before: `		static auto New(size_t memory_limit_in_mb, std::shared_ptr<v8::BackingStore> snapshot_blob, size_t snapshot_length) -> std::shared_ptr<IsolateHolder> {`,
    after: `		// mcp-v8 patch: New in two halves, so that the V8 work may run on another thread. NewUnbuilt
		// makes the environment and its holder, on the default thread (their executor and scheduler
		// are that thread's); Build makes the V8 isolate in it, on any thread, once.
		static auto NewUnbuilt() -> std::shared_ptr<IsolateHolder> {
			auto env = std::make_shared<IsolateEnvironment>(static_cast<UvScheduler&>(*Executor::GetDefaultEnvironment().scheduler));
			auto holder = std::make_shared<IsolateHolder>(env);
			env->holder = holder;
			return holder;
		}
		static void Build(const std::shared_ptr<IsolateHolder>& holder, size_t memory_limit_in_mb, std::shared_ptr<v8::BackingStore> snapshot_blob, size_t snapshot_length);

		static auto New(size_t memory_limit_in_mb, std::shared_ptr<v8::BackingStore> snapshot_blob, size_t snapshot_length) -> std::shared_ptr<IsolateHolder> {`,
  },
  {
    file: 'src/isolate/environment.cc',
    before: `IsolateEnvironment::~IsolateEnvironment() {`,
    after: `// mcp-v8 patch: the V8 half of New (environment.h, NewUnbuilt). This thread stands for the new
// isolate's own while V8 builds it: IsolateEnvironment::GetCurrent() is the new environment and
// Executor::GetDefaultEnvironment() the loop's, as on an isolate's thread.
void IsolateEnvironment::Build(const std::shared_ptr<IsolateHolder>& holder, size_t memory_limit_in_mb, std::shared_ptr<v8::BackingStore> snapshot_blob, size_t snapshot_length) {
	auto env = holder->GetIsolate();
	assert(env && env->isolate == nullptr);
	Executor::Scope scope{*env};
	env->IsolateCtor(memory_limit_in_mb, std::move(snapshot_blob), snapshot_length);
}

IsolateEnvironment::~IsolateEnvironment() {`,
  },
  {
    file: 'src/module/isolate_handle.h',
    before: `		static auto CreateSnapshot(ArrayRange script_handles, v8::MaybeLocal<v8::String> warmup_handle) -> v8::Local<v8::Value>;`,
    after: `		static auto CreateSnapshot(ArrayRange script_handles, v8::MaybeLocal<v8::String> warmup_handle) -> v8::Local<v8::Value>;
		// mcp-v8 patch: an isolate made and disposed with V8's work on libuv's thread pool.
		static auto CreateAsync(v8::MaybeLocal<v8::Object> maybe_options) -> v8::Local<v8::Value>;
		auto DisposeAsync() -> v8::Local<v8::Value>;`,
  },
  {
    file: 'src/module/isolate_handle.cc',
    before: `		"createSnapshot", FreeFunction<decltype(&CreateSnapshot), &CreateSnapshot>{},`,
    after: `		"createSnapshot", FreeFunction<decltype(&CreateSnapshot), &CreateSnapshot>{},
		"createAsync", FreeFunction<decltype(&CreateAsync), &CreateAsync>{}, // mcp-v8 patch`,
  },
  {
    file: 'src/module/isolate_handle.cc',
    before: `		"dispose", MemberFunction<decltype(&IsolateHandle::Dispose), &IsolateHandle::Dispose>{},`,
    after: `		"dispose", MemberFunction<decltype(&IsolateHandle::Dispose), &IsolateHandle::Dispose>{},
		"disposeAsync", MemberFunction<decltype(&IsolateHandle::DisposeAsync), &IsolateHandle::DisposeAsync>{}, // mcp-v8 patch`,
  },
  {
    file: 'src/module/isolate_handle.cc',
    before: `auto IsolateHandle::New(MaybeLocal<Object> maybe_options) -> unique_ptr<ClassHandle> {`,
    after: `// mcp-v8 patch: New's options, as New read them, for CreateAsync: while it points somewhere,
// New stops after reading them and leaves them there (this thread's, never another's).
struct IsolateOptions {
	shared_ptr<v8::BackingStore> snapshot_blob;
	RemoteHandle<Function> error_handler;
	size_t snapshot_blob_length = 0;
	size_t memory_limit = 128;
	bool inspector = false;
};
static thread_local IsolateOptions* options_only = nullptr;

auto IsolateHandle::New(MaybeLocal<Object> maybe_options) -> unique_ptr<ClassHandle> {`,
  },
  {
    file: 'src/module/isolate_handle.cc',
    before: `	// Return isolate handle
	auto holder = IsolateEnvironment::New(memory_limit, std::move(snapshot_blob), snapshot_blob_length);`,
    after: `	// mcp-v8 patch: CreateAsync asked for the options only.
	if (options_only != nullptr) {
		*options_only = IsolateOptions{std::move(snapshot_blob), std::move(error_handler), snapshot_blob_length, memory_limit, inspector};
		return {};
	}

	// Return isolate handle
	auto holder = IsolateEnvironment::New(memory_limit, std::move(snapshot_blob), snapshot_blob_length);`,
  },
  {
    file: 'src/module/isolate_handle.cc',
    before: `auto IsolateHandle::TransferOut() -> unique_ptr<Transferable> {`,
    after: `// mcp-v8 patch: \`work\` on libuv's thread pool, then \`done\` on the loop, whose value resolves the
// promise answered (in a node::CallbackScope: microtasks and async hooks run as for any callback).
namespace {
struct OffLoopWork {
	uv_work_t request{};
	v8::Isolate* isolate = nullptr;
	v8::Global<v8::Context> context;
	v8::Global<v8::Promise::Resolver> resolver;
	node::async_context async{0, 0};
	shared_ptr<IsolateHolder> default_holder;
	std::function<void()> work;
	std::function<Local<Value>()> done;
};
}

static auto RunOffLoop(std::function<void()> work, std::function<Local<Value>()> done) -> Local<Value> {
	auto* isolate = Isolate::GetCurrent();
	auto context = isolate->GetCurrentContext();
	auto resolver = Unmaybe(Promise::Resolver::New(context));
	auto job = std::make_unique<OffLoopWork>();
	job->isolate = isolate;
	job->context.Reset(isolate, context);
	job->resolver.Reset(isolate, resolver);
	job->async = node::EmitAsyncInit(isolate, resolver->GetPromise(), "isolated-vm:off-loop");
	job->default_holder = Executor::GetDefaultEnvironment().GetHolder().lock();
	job->work = std::move(work);
	job->done = std::move(done);
	job->request.data = job.get();
	LockedScheduler::IncrementUvRefForIsolate(job->default_holder);
	int queued = uv_queue_work(node::GetCurrentEventLoop(isolate), &job->request, [](uv_work_t* request) {
		static_cast<OffLoopWork*>(request->data)->work();
	}, [](uv_work_t* request, int /*status*/) {
		unique_ptr<OffLoopWork> job{static_cast<OffLoopWork*>(request->data)};
		auto* isolate = job->isolate;
		HandleScope handle_scope{isolate};
		auto context = job->context.Get(isolate);
		Context::Scope context_scope{context};
		auto resolver = job->resolver.Get(isolate);
		{
			node::CallbackScope callback_scope{isolate, resolver->GetPromise(), job->async};
			Unmaybe(resolver->Resolve(context, job->done()));
		}
		node::EmitAsyncDestroy(isolate, job->async);
		LockedScheduler::DecrementUvRefForIsolate(job->default_holder);
	});
	if (queued != 0) {
		LockedScheduler::DecrementUvRefForIsolate(job->default_holder);
		node::EmitAsyncDestroy(isolate, job->async);
		throw RuntimeGenericError("libuv refused the work");
	}
	job.release(); // the after-work callback owns it now
	return resolver->GetPromise();
}

auto IsolateHandle::CreateAsync(MaybeLocal<Object> maybe_options) -> Local<Value> {
	auto options = std::make_shared<IsolateOptions>();
	options_only = options.get();
	try {
		New(maybe_options);
	} catch (...) {
		options_only = nullptr;
		throw;
	}
	options_only = nullptr;
	auto holder = IsolateEnvironment::NewUnbuilt();
	return RunOffLoop([holder, options]() {
		IsolateEnvironment::Build(holder, options->memory_limit, std::move(options->snapshot_blob), options->snapshot_blob_length);
	}, [holder, options]() -> Local<Value> {
		// As New does after building the isolate, on this thread.
		auto env = holder->GetIsolate();
		env->GetIsolate()->SetHostInitializeImportMetaObjectCallback(ModuleHandle::InitializeImportMeta);
		env->error_handler = options->error_handler;
		if (options->inspector) {
			env->EnableInspectorAgent();
		}
		return ClassHandle::NewInstance<IsolateHandle>(holder);
	});
}

auto IsolateHandle::DisposeAsync() -> Local<Value> {
	// Held past Dispose, so that the last reference, and with it V8's teardown, goes to the pool.
	auto env = std::make_shared<shared_ptr<IsolateEnvironment>>(isolate->GetIsolate());
	if (!*env || !isolate->Dispose()) {
		throw RuntimeGenericError("Isolate is already disposed");
	}
	return RunOffLoop([env]() {
		env->reset();
	}, []() -> Local<Value> {
		return Undefined(Isolate::GetCurrent());
	});
}

auto IsolateHandle::TransferOut() -> unique_ptr<Transferable> {`,
  },
  {
    file: 'src/module/isolate_handle.cc',
    before: `#include <cstring>
#include <deque>`,
    after: `#include <cstring>
#include <deque>
#include <functional> // mcp-v8 patch: RunOffLoop
#include <uv.h> // mcp-v8 patch: RunOffLoop`,
  },
);

function fail(message) {
  process.stderr.write(`mcp-v8: isolated-vm not patched: ${message}\n`);
  if (strict) process.exit(1);
  process.stderr.write('mcp-v8: the prebuilt isolated-vm stays in use (see docs/exec.md, "Limits")\n');
  process.exit(0);
}

let ivmDir;
try {
  ivmDir = dirname(require.resolve('isolated-vm/package.json'));
} catch {
  fail('isolated-vm is not installed');
}
const version = JSON.parse(readFileSync(join(ivmDir, 'package.json'), 'utf8')).version;
if (version !== supportedVersion) fail(`the patch is for isolated-vm ${supportedVersion}, this is ${version}`);
const patchId = createHash('sha256').update(JSON.stringify({ version, edits })).digest('hex').slice(0, 16);
const releaseDir = join(ivmDir, 'build', 'Release');
const markerPath = join(releaseDir, 'mcp-v8-patch.json');
const binaryPath = join(releaseDir, 'isolated_vm.node');

/** Node's headers for the Node the server runs on (24): the `node` package's own, else this Node's. */
function nodeHeadersDir() {
  const candidates = [];
  if (process.env.MCP_V8_NODEDIR) candidates.push(process.env.MCP_V8_NODEDIR);
  try {
    const nodePackage = require.resolve('node/package.json');
    const archPackage = createRequire(nodePackage).resolve(`node-${process.platform}-${process.arch}/package.json`);
    candidates.push(dirname(archPackage));
  } catch {}
  if (Number(process.versions.node.split('.')[0]) >= 24) candidates.push(dirname(dirname(process.execPath)));
  return candidates.find((dir) => {
    const version = join(dir, 'include', 'node', 'node_version.h');
    return existsSync(version) && /#define NODE_MAJOR_VERSION (\d+)/.exec(readFileSync(version, 'utf8'))?.[1] === '24';
  });
}

/** npm's own node-gyp: npm names it in lifecycle scripts; else the one beside npm. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  ];
  return candidates.find((path) => path !== undefined && path.endsWith('.js') && existsSync(path));
}

if (existsSync(markerPath) && existsSync(binaryPath)) {
  const built = JSON.parse(readFileSync(markerPath, 'utf8'));
  if (built.patch === patchId && built.isolatedVm === version) process.exit(0);
}
const nodedir = nodeHeadersDir();
if (nodedir === undefined) fail('no headers of Node 24 found (set MCP_V8_NODEDIR to a Node 24 install)');
// isolateThreadName: what the patch names the threads that run isolates (src/exec/isolated-vm-build.ts).
// answerWithNext: the build has the option (src/exec/isolated-vm-build.ts, issue 23's block above).
// offLoopIsolates: the build has Isolate.createAsync and disposeAsync (the block above).
const marker = { patch: patchId, isolatedVm: version, nodedir, isolateThreadName: 'ivm-isolate', answerWithNext: true, offLoopIsolates: true };
const gyp = nodeGyp();
if (gyp === undefined) fail('node-gyp not found (it comes with npm)');

const workDir = join(ivmDir, '..', '.cache', 'mcp-v8-isolated-vm');
rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
for (const entry of ['binding.gyp', 'package.json', 'src', 'vendor']) cpSync(join(ivmDir, entry), join(workDir, entry), { recursive: true });
for (const { file, before, after } of edits) {
  const path = join(workDir, file);
  const source = readFileSync(path, 'utf8');
  if (source.split(before).length !== 2) fail(`${file} does not read as the patch expects`);
  writeFileSync(path, source.replace(before, after));
}
process.stderr.write(`mcp-v8: building isolated-vm ${version} with mcp-v8's patch (about 2 minutes on 2 cores)…\n`);
const jobs = String(Math.max(1, cpus().length));
// npm's lifecycle environment names the nodedir of the Node that runs npm (npm_config_nodedir,
// e.g. /usr for a system Node 20), and node-gyp prefers it to --nodedir: set it to Node 24's.
const env = { ...process.env, npm_config_nodedir: nodedir };
const build = spawnSync(process.execPath, [gyp, 'rebuild', '--release', '-j', jobs, `--nodedir=${nodedir}`], { cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
if (build.status !== 0) {
  const output = `${build.stdout ?? ''}\n${build.stderr ?? ''}`.split('\n');
  const errors = output.filter((line) => /error/i.test(line)).slice(0, 20);
  fail(`the build failed (a C++ toolchain is needed: g++, make, python3):\n${errors.join('\n')}`);
}
mkdirSync(releaseDir, { recursive: true });
cpSync(join(workDir, 'build', 'Release', 'isolated_vm.node'), binaryPath);
writeFileSync(markerPath, `${JSON.stringify(marker)}\n`);
rmSync(workDir, { recursive: true, force: true });
process.stderr.write(`mcp-v8: isolated-vm patched (${patchId})\n`);
